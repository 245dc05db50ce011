/**
 * RegionSync: keeps wavesurfer's Regions plugin in step with the annotation model.
 *
 * Model → regions: only the segments a change names are added, moved or removed (a recording
 * may hold hundreds; nothing is rebuilt wholesale). Regions → model: a drag-selection, a move
 * or a resize is reported as an event; the annotator applies it to the model, and when the model
 * refuses (e.g. an overlap the schema forbids) the region is put back.
 *
 * Labels are added as plain child elements, not as the plugin's `content`: the plugin lays out
 * every region with content against every other one after each edit (quadratic in the count).
 */
import type { Region, RegionParams } from 'wavesurfer.js/dist/plugins/regions.js'

import EventEmitter from '../common/event-emitter'
import type { AnnotationModel, ModelChange, PredictedSegment, Segment } from './model'
import { withAlpha } from './schema'

/** The part of RegionsPlugin used here (tests pass a fake) */
export type RegionsLike = {
  addRegion(params: RegionParams): Region
  enableDragSelection(options: Omit<RegionParams, 'start' | 'end'>, threshold?: number): () => void
  on(event: 'region-created' | 'region-updated', listener: (region: Region) => void): () => void
  on(event: 'region-clicked' | 'region-double-clicked', listener: (region: Region, e: MouseEvent) => void): () => void
}

/** What a region stands for */
export type RegionKind = 'segment' | 'prediction'

export type RegionSyncEvents = {
  /** A region was clicked */
  select: [id: string, kind: RegionKind]
  /** A region was double-clicked */
  activate: [id: string, kind: RegionKind]
  /** A new span was dragged out on the waveform */
  create: [startS: number, endS: number]
  /** A region was moved or resized with the mouse */
  change: [id: string, kind: RegionKind, startS: number, endS: number]
}

export type RegionSyncOptions = {
  /** The Regions plugin */
  regions: RegionsLike
  /** The model to mirror */
  model: AnnotationModel
  /** Colour of a label */
  colorOf: (label: string) => string
  /** Limit regions to this many px from the top (the waveform), or null for the full height */
  heightPx: number | null
}

export class RegionSync extends EventEmitter<RegionSyncEvents> {
  private readonly options: RegionSyncOptions
  private readonly byId = new Map<string, { region: Region; kind: RegionKind }>()
  private readonly subscriptions: Array<() => void> = []
  private disableDragSelection: (() => void) | null = null
  private adding = false
  private selected: string | null = null

  constructor(options: RegionSyncOptions) {
    super()
    this.options = options
    const { regions } = options
    this.subscriptions.push(
      regions.on('region-created', (region) => {
        if (this.adding || this.byId.has(region.id)) return
        // A drag-selection: hand the span to the model, which adds a proper region if it agrees.
        const { start, end } = region
        region.remove()
        this.emit('create', start, end)
      }),
      regions.on('region-updated', (region) => {
        const entry = this.byId.get(region.id)
        if (!entry) return
        this.emit('change', region.id, entry.kind, region.start, region.end)
      }),
      regions.on('region-clicked', (region) => {
        const entry = this.byId.get(region.id)
        if (entry) this.emit('select', region.id, entry.kind)
      }),
      regions.on('region-double-clicked', (region) => {
        const entry = this.byId.get(region.id)
        if (entry) this.emit('activate', region.id, entry.kind)
      }),
    )
  }

  /** Number of regions shown */
  get size(): number {
    return this.byId.size
  }

  /** The region of a segment or suggestion */
  getRegion(id: string): Region | undefined {
    return this.byId.get(id)?.region
  }

  /** Lets people drag out new segments, drawn in `label`'s colour while dragging */
  enableDragSelection(label: string): void {
    this.disableDragSelection?.()
    this.disableDragSelection = this.options.regions.enableDragSelection({
      color: withAlpha(this.options.colorOf(label), 0.3),
      minLength: 0.01,
    })
  }

  /** Adds a region for every segment and suggestion of the model */
  addAll(): void {
    for (const segment of this.options.model.getSegments()) this.addSegment(segment)
    for (const prediction of this.options.model.getPredictions()) this.addPrediction(prediction)
  }

  /** Applies a model change to the regions it names */
  apply(change: ModelChange): void {
    const { model } = this.options
    for (const id of change.removed) this.remove(id)
    for (const id of change.predictionsRemoved) this.remove(id)
    for (const id of change.added) {
      const segment = model.getSegment(id)
      if (segment) this.addSegment(segment)
    }
    for (const id of change.updated) {
      const segment = model.getSegment(id)
      const entry = this.byId.get(id)
      if (!segment || !entry) continue
      entry.region.setOptions({ start: segment.start_s, end: segment.end_s, color: this.segmentColor(segment) })
      this.decorate(entry.region, segment.label, 'segment', null)
    }
    for (const id of change.predictionsAdded) {
      const prediction = model.getPrediction(id)
      if (prediction) this.addPrediction(prediction)
    }
  }

  /** Puts a region back where the model has it (after a refused move) */
  revert(id: string): void {
    const entry = this.byId.get(id)
    if (!entry) return
    const data = entry.kind === 'segment' ? this.options.model.getSegment(id) : this.options.model.getPrediction(id)
    if (data) entry.region.setOptions({ start: data.start_s, end: data.end_s })
  }

  /** Highlights one region */
  setSelected(id: string | null): void {
    const previous = this.selected
    this.selected = id
    for (const key of [previous, id]) {
      if (key === null) continue
      const entry = this.byId.get(key)
      if (entry?.region.element) this.styleSelection(entry.region.element, key === id)
    }
  }

  /** Removes every region and listener */
  destroy(): void {
    this.disableDragSelection?.()
    this.subscriptions.forEach((unsubscribe) => {
      unsubscribe()
    })
    for (const { region } of this.byId.values()) region.remove()
    this.byId.clear()
    this.unAll()
  }

  private segmentColor(segment: Segment): string {
    return withAlpha(this.options.colorOf(segment.label), 0.28)
  }

  private addSegment(segment: Segment) {
    if (this.byId.has(segment.id)) return
    const region = this.add({
      id: segment.id,
      start: segment.start_s,
      end: segment.end_s,
      color: this.segmentColor(segment),
      drag: true,
      resize: true,
      minLength: 0.01,
    })
    this.byId.set(segment.id, { region, kind: 'segment' })
    this.decorate(region, segment.label, 'segment', null)
  }

  private addPrediction(prediction: PredictedSegment) {
    if (this.byId.has(prediction.id)) return
    const region = this.add({
      id: prediction.id,
      start: prediction.start_s,
      end: prediction.end_s,
      color: withAlpha(this.options.colorOf(prediction.label), 0.1),
      drag: true,
      resize: true,
      minLength: 0.01,
    })
    this.byId.set(prediction.id, { region, kind: 'prediction' })
    this.decorate(region, prediction.label, 'prediction', prediction.score)
  }

  private add(params: RegionParams): Region {
    this.adding = true
    try {
      return this.options.regions.addRegion(params)
    } finally {
      this.adding = false
    }
  }

  private remove(id: string) {
    const entry = this.byId.get(id)
    if (!entry) return
    this.byId.delete(id)
    entry.region.remove()
  }

  /** Label tag, test ids, the dashed style of suggestions, the height limit */
  private decorate(region: Region, label: string, kind: RegionKind, score: number | null) {
    const el = region.element
    if (!el) return
    el.setAttribute('data-testid', kind === 'segment' ? 'segment-region' : 'prediction-region')
    el.dataset.segmentId = region.id
    el.dataset.label = label
    if (this.options.heightPx !== null) el.style.height = `${this.options.heightPx}px`
    const color = this.options.colorOf(label)
    let tag = el.querySelector<HTMLElement>('[data-region-tag]')
    if (!tag) {
      tag = el.ownerDocument.createElement('span')
      tag.setAttribute('data-region-tag', '')
      Object.assign(tag.style, {
        position: 'absolute',
        left: '3px',
        top: '2px',
        font: '11px system-ui, sans-serif',
        lineHeight: '1.2',
        color: '#111',
        background: 'rgba(255, 255, 255, 0.75)',
        borderRadius: '2px',
        padding: '0 3px',
        pointerEvents: 'none',
        whiteSpace: 'nowrap',
        maxWidth: 'calc(100% - 6px)',
        overflow: 'hidden',
      })
      el.append(tag)
    }
    tag.textContent = score === null ? label : `${label} ${Math.round(score * 100)}%`
    if (kind === 'prediction') {
      el.style.border = `2px dashed ${color}`
      el.style.opacity = '0.85'
    } else {
      el.style.border = ''
      el.style.borderTop = `3px solid ${color}`
    }
    this.styleSelection(el, region.id === this.selected)
  }

  private styleSelection(el: HTMLElement, selected: boolean) {
    el.style.outline = selected ? '2px solid #111' : ''
    el.style.outlineOffset = selected ? '-2px' : ''
    el.style.zIndex = selected ? '3' : ''
    el.dataset.selected = selected ? 'true' : 'false'
  }
}
