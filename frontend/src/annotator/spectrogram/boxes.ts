/**
 * BoxLayer: segments with a frequency band drawn as boxes on the spectrogram, and the mouse
 * gestures on it: drag on an empty area to draw a new box, drag a box to move it, drag an edge
 * or a corner to resize it, click to select. wavesurfer has no such layer, so this one lives
 * in the spectrogram band (inside wavesurfer's scrolling wrapper) and maps y to Hz with the
 * tile formula. Only the boxes in view are in the DOM.
 */
import EventEmitter from '../../common/event-emitter'
import type { PredictedSegment, Segment } from '../model'
import { withAlpha } from '../schema'
import { type FrequencyScale, hzToY, yToHz } from './tiles'

/** How time and frequency map to the band's pixels */
export type BoxGeometry = {
  /** Horizontal scale, CSS px per second */
  pxPerS: number
  /** Height of the band in CSS px */
  heightPx: number
  /** Frequency axis */
  scale: FrequencyScale
  /** Top of the axis in Hz */
  nyquistHz: number
  /** Duration of the recording in seconds */
  durationS: number
}

/** Which edges a drag moves; none means the whole box */
export type Edges = { left: boolean; right: boolean; top: boolean; bottom: boolean }

/** A box in time and frequency; a segment without a band has null bounds (full height) */
export type BoxSpan = { start_s: number; end_s: number; low_hz: number | null; high_hz: number | null }

/** The edges within `tolerance` px of a point inside a box (x, y relative to the box) */
export function hitEdges(width: number, height: number, x: number, y: number, tolerance = 5): Edges {
  const t = Math.min(tolerance, width / 3, height / 3)
  return { left: x <= t, right: x >= width - t, top: y <= t, bottom: y >= height - t }
}

/**
 * A box after a drag of (dx, dy) px that moves `edges` (or the whole box when none). A box
 * without a band only moves in time.
 */
export function dragBox(box: BoxSpan, edges: Edges, dx: number, dy: number, g: BoxGeometry): BoxSpan {
  const whole = !edges.left && !edges.right && !edges.top && !edges.bottom
  const dt = dx / g.pxPerS
  let { start_s, end_s } = box
  if (whole) {
    const length = end_s - start_s
    start_s = Math.min(Math.max(0, start_s + dt), Math.max(0, g.durationS - length))
    end_s = start_s + length
  } else {
    if (edges.left) start_s = Math.max(0, start_s + dt)
    if (edges.right) end_s = Math.min(g.durationS, end_s + dt)
  }
  const times = { start_s: Math.min(start_s, end_s), end_s: Math.max(start_s, end_s) }
  if (box.low_hz === null || box.high_hz === null) return { ...times, low_hz: null, high_hz: null }
  let top = hzToY(box.high_hz, g.scale, g.nyquistHz, g.heightPx)
  let bottom = hzToY(box.low_hz, g.scale, g.nyquistHz, g.heightPx)
  if (whole) {
    const h = bottom - top
    top = Math.min(Math.max(0, top + dy), g.heightPx - h)
    bottom = top + h
  } else {
    if (edges.top) top = Math.max(0, top + dy)
    if (edges.bottom) bottom = Math.min(g.heightPx, bottom + dy)
  }
  return {
    ...times,
    high_hz: yToHz(Math.min(top, bottom), g.scale, g.nyquistHz, g.heightPx),
    low_hz: yToHz(Math.max(top, bottom), g.scale, g.nyquistHz, g.heightPx),
  }
}

/** The box spanned by two points of a drag (px in the band) */
export function boxFromPoints(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  g: BoxGeometry,
): { start_s: number; end_s: number; low_hz: number; high_hz: number } {
  const t0 = Math.max(0, Math.min(x0, x1) / g.pxPerS)
  const t1 = Math.min(g.durationS, Math.max(x0, x1) / g.pxPerS)
  return {
    start_s: t0,
    end_s: t1,
    high_hz: yToHz(Math.min(y0, y1), g.scale, g.nyquistHz, g.heightPx),
    low_hz: yToHz(Math.max(y0, y1), g.scale, g.nyquistHz, g.heightPx),
  }
}

export type BoxLayerEvents = {
  /** A box (or empty space: null) was clicked */
  select: [id: string | null, kind: 'segment' | 'prediction' | null]
  /** A new box was drawn */
  create: [span: { start_s: number; end_s: number; low_hz: number; high_hz: number }]
  /** A box was moved or resized (a prediction's id when a suggestion was edited) */
  change: [id: string, span: BoxSpan, kind: 'segment' | 'prediction']
  /** Empty space was clicked at this time */
  seek: [timeS: number]
}

export type BoxLayerOptions = {
  /** The overlay element in the spectrogram band */
  container: HTMLElement
  /** Current geometry */
  getGeometry: () => BoxGeometry
  /** Colour of a label */
  colorOf: (label: string) => string
  /** Whether boxes can be drawn and edited (the schema has frequency bands) */
  interactive: boolean
}

type Item = { kind: 'segment' | 'prediction'; data: Segment | PredictedSegment }
type Drag =
  | { type: 'new'; x0: number; y0: number; rubber: HTMLElement; pointerId: number }
  | {
      type: 'box'
      id: string
      kind: 'segment' | 'prediction'
      x0: number
      y0: number
      edges: Edges
      span: BoxSpan
      el: HTMLElement
      moved: boolean
      pointerId: number
    }

/** Smallest drag, in px, that counts as drawing or moving rather than clicking */
const DRAG_THRESHOLD_PX = 3

export class BoxLayer extends EventEmitter<BoxLayerEvents> {
  private readonly options: BoxLayerOptions
  private readonly elements = new Map<string, HTMLElement>()
  private items: Item[] = []
  private selected: string | null = null
  private view: { startS: number; endS: number } = { startS: 0, endS: 0 }
  private drag: Drag | null = null
  private readonly cleanups: Array<() => void> = []

  constructor(options: BoxLayerOptions) {
    super()
    this.options = options
    const el = options.container
    el.setAttribute('data-testid', 'frequency-layer')
    if (options.interactive) {
      Object.assign(el.style, { pointerEvents: 'auto', zIndex: '6', cursor: 'crosshair' })
      const down = (e: PointerEvent) => {
        this.onPointerDown(e)
      }
      const move = (e: PointerEvent) => {
        this.onPointerMove(e)
      }
      const up = (e: PointerEvent) => {
        this.onPointerUp(e)
      }
      // Keep clicks and drags here from reaching wavesurfer (seek, region drag-selection).
      const stop = (e: Event) => {
        e.stopPropagation()
      }
      el.addEventListener('pointerdown', down)
      el.addEventListener('pointermove', move)
      el.addEventListener('pointerup', up)
      el.addEventListener('pointercancel', up)
      el.addEventListener('click', stop)
      el.addEventListener('dblclick', stop)
      this.cleanups.push(() => {
        el.removeEventListener('pointerdown', down)
        el.removeEventListener('pointermove', move)
        el.removeEventListener('pointerup', up)
        el.removeEventListener('pointercancel', up)
        el.removeEventListener('click', stop)
        el.removeEventListener('dblclick', stop)
      })
    }
  }

  /** Ids of the boxes in the DOM */
  renderedIds(): string[] {
    return [...this.elements.keys()]
  }

  /** Sets what is drawn: segments and pending suggestions (each sorted by start) */
  setItems(segments: readonly Segment[], predictions: readonly PredictedSegment[]): void {
    this.items = [
      ...segments.map((data): Item => ({ kind: 'segment', data })),
      ...predictions.map((data): Item => ({ kind: 'prediction', data })),
    ]
    this.render()
  }

  /** Marks the selected segment or suggestion */
  setSelected(id: string | null): void {
    const previous = this.selected
    this.selected = id
    for (const key of [previous, id]) {
      if (key === null) continue
      const el = this.elements.get(key)
      const item = this.items.find((i) => i.data.id === key)
      if (el && item) this.style(el, item)
    }
  }

  /** Sets the visible window and redraws what is in it */
  setView(startS: number, endS: number): void {
    this.view = { startS, endS }
    this.render()
  }

  /** Places the boxes in view and removes the others */
  render(): void {
    const g = this.options.getGeometry()
    if (!(g.pxPerS > 0)) return
    const margin = (this.view.endS - this.view.startS) * 0.25
    const from = this.view.startS - margin
    const to = this.view.endS + margin
    const keep = new Set<string>()
    for (const item of this.items) {
      const { id, start_s, end_s } = item.data
      if (end_s < from || start_s > to) continue
      keep.add(id)
      let el = this.elements.get(id)
      if (!el) {
        el = this.create(item)
        this.elements.set(id, el)
        this.options.container.append(el)
      }
      this.style(el, item)
      this.position(el, item.data, g)
    }
    for (const [id, el] of this.elements) {
      if (keep.has(id) || (this.drag?.type === 'box' && this.drag.id === id)) continue
      el.remove()
      this.elements.delete(id)
    }
  }

  /** Removes everything and stops listening */
  destroy(): void {
    for (const el of this.elements.values()) el.remove()
    this.elements.clear()
    this.cleanups.forEach((f) => {
      f()
    })
    this.unAll()
  }

  private create(item: Item): HTMLElement {
    const el = this.options.container.ownerDocument.createElement('div')
    el.dataset.boxId = item.data.id
    el.dataset.kind = item.kind
    el.setAttribute('data-testid', item.kind === 'segment' ? 'frequency-box' : 'frequency-box-prediction')
    const tag = this.options.container.ownerDocument.createElement('span')
    Object.assign(tag.style, {
      position: 'absolute',
      left: '2px',
      top: '1px',
      font: '10px system-ui, sans-serif',
      color: '#fff',
      textShadow: '0 0 2px #000',
      pointerEvents: 'none',
      whiteSpace: 'nowrap',
    })
    el.append(tag)
    Object.assign(el.style, { position: 'absolute', boxSizing: 'border-box', cursor: 'move' })
    return el
  }

  private style(el: HTMLElement, item: Item) {
    const color = this.options.colorOf(item.data.label)
    const selected = item.data.id === this.selected
    const hasBand = item.data.low_hz !== null && item.data.high_hz !== null
    const tag = el.firstElementChild as HTMLElement | null
    if (item.kind === 'prediction') {
      const p = item.data as PredictedSegment
      el.style.border = `2px dashed ${color}`
      el.style.background = withAlpha(color, 0.08)
      if (tag) tag.textContent = `${p.label} ${Math.round(p.score * 100)}%`
    } else {
      el.style.border = hasBand ? `2px solid ${color}` : `1px dotted ${withAlpha(color, 0.7)}`
      el.style.background = withAlpha(color, hasBand ? 0.18 : 0.06)
      if (tag) tag.textContent = hasBand ? item.data.label : ''
    }
    el.style.boxShadow = selected ? '0 0 0 2px #fff, 0 0 0 4px #000' : ''
    el.style.zIndex = selected ? '2' : '1'
    el.dataset.selected = selected ? 'true' : 'false'
  }

  private position(el: HTMLElement, data: Segment | PredictedSegment, g: BoxGeometry) {
    const hasBand = data.low_hz !== null && data.high_hz !== null
    const top = hasBand ? hzToY(data.high_hz, g.scale, g.nyquistHz, g.heightPx) : 0
    const bottom = hasBand ? hzToY(data.low_hz, g.scale, g.nyquistHz, g.heightPx) : g.heightPx
    el.style.left = `${data.start_s * g.pxPerS}px`
    el.style.width = `${Math.max(2, (data.end_s - data.start_s) * g.pxPerS)}px`
    el.style.top = `${top}px`
    el.style.height = `${Math.max(2, bottom - top)}px`
  }

  private local(e: PointerEvent): { x: number; y: number } {
    const rect = this.options.container.getBoundingClientRect()
    return { x: e.clientX - rect.left, y: e.clientY - rect.top }
  }

  private onPointerDown(e: PointerEvent) {
    if (e.button !== 0) return
    e.stopPropagation()
    e.preventDefault()
    const { x, y } = this.local(e)
    const target = (e.target as Element | null)?.closest<HTMLElement>('[data-box-id]')
    this.options.container.setPointerCapture(e.pointerId)
    if (target?.dataset.boxId) {
      const id = target.dataset.boxId
      const item = this.items.find((i) => i.data.id === id)
      if (!item) return
      const rect = target.getBoundingClientRect()
      const hasBand = item.data.low_hz !== null && item.data.high_hz !== null
      const edges = hitEdges(rect.width, rect.height, e.clientX - rect.left, e.clientY - rect.top)
      if (!hasBand) {
        edges.top = false
        edges.bottom = false
      }
      const span: BoxSpan = {
        start_s: item.data.start_s,
        end_s: item.data.end_s,
        low_hz: item.data.low_hz,
        high_hz: item.data.high_hz,
      }
      this.drag = {
        type: 'box',
        id,
        kind: item.kind,
        x0: x,
        y0: y,
        edges,
        span,
        el: target,
        moved: false,
        pointerId: e.pointerId,
      }
      this.emit('select', id, item.kind)
      return
    }
    const rubber = this.options.container.ownerDocument.createElement('div')
    rubber.setAttribute('data-testid', 'frequency-rubber-band')
    Object.assign(rubber.style, {
      position: 'absolute',
      border: '1px dashed #fff',
      background: 'rgba(255, 255, 255, 0.12)',
      pointerEvents: 'none',
      left: `${x}px`,
      top: `${y}px`,
      width: '0',
      height: '0',
    })
    this.options.container.append(rubber)
    this.drag = { type: 'new', x0: x, y0: y, rubber, pointerId: e.pointerId }
  }

  private onPointerMove(e: PointerEvent) {
    const drag = this.drag
    if (drag?.pointerId !== e.pointerId) return
    e.stopPropagation()
    const { x, y } = this.local(e)
    if (drag.type === 'new') {
      Object.assign(drag.rubber.style, {
        left: `${Math.min(x, drag.x0)}px`,
        top: `${Math.min(y, drag.y0)}px`,
        width: `${Math.abs(x - drag.x0)}px`,
        height: `${Math.abs(y - drag.y0)}px`,
      })
      return
    }
    if (!drag.moved && Math.hypot(x - drag.x0, y - drag.y0) < DRAG_THRESHOLD_PX) return
    drag.moved = true
    const g = this.options.getGeometry()
    const span = dragBox(drag.span, drag.edges, x - drag.x0, y - drag.y0, g)
    this.position(drag.el, { ...span, id: drag.id, label: '', text: '' }, g)
  }

  private onPointerUp(e: PointerEvent) {
    const drag = this.drag
    if (drag?.pointerId !== e.pointerId) return
    e.stopPropagation()
    this.drag = null
    if (this.options.container.hasPointerCapture(e.pointerId)) this.options.container.releasePointerCapture(e.pointerId)
    const { x, y } = this.local(e)
    const g = this.options.getGeometry()
    if (drag.type === 'new') {
      drag.rubber.remove()
      if (Math.abs(x - drag.x0) < DRAG_THRESHOLD_PX || Math.abs(y - drag.y0) < DRAG_THRESHOLD_PX) {
        // A click on empty space: deselect and move the playhead there.
        this.emit('select', null, null)
        this.emit('seek', Math.min(Math.max(0, x / g.pxPerS), g.durationS))
        return
      }
      this.emit('create', boxFromPoints(drag.x0, drag.y0, x, y, g))
      return
    }
    if (!drag.moved) return
    const span = dragBox(drag.span, drag.edges, x - drag.x0, y - drag.y0, g)
    this.emit('change', drag.id, span, drag.kind)
    // The model's change (or refusal) re-renders the box where it belongs.
    this.render()
  }
}
