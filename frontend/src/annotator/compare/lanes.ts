/**
 * LaneView: one lane per annotation under the waveform, each segment a box in its lane's
 * colour with its label. It is mounted inside wavesurfer's scrolling wrapper and places boxes
 * in percent of the duration, so the lanes scroll and zoom with the waveform without any work
 * on scroll or zoom. The lane names stick to the left edge of the view.
 */
import EventEmitter from '../../common/event-emitter'
import type { ApiSegment } from '../types'

/** One lane: an annotation's segments */
export type Lane = {
  /** Stable key (the annotation id) */
  key: string
  /** Shown at the left edge */
  title: string
  /** Box colour */
  color: string
  /** Segments */
  segments: readonly ApiSegment[]
  /** Drawn dashed: a draft still being built (the correction) */
  dashed?: boolean
}

export type LaneViewOptions = {
  /** Where the lanes go: wavesurfer's wrapper (as wide as the whole waveform) */
  parent: HTMLElement
  /** Duration of the recording in seconds */
  durationS: number
  /** The lanes, top to bottom */
  lanes?: Lane[]
  /** Height of one lane in CSS px, defaults to 26 */
  laneHeight?: number
}

export type LaneViewEvents = {
  /** A segment box was clicked */
  'segment-click': [laneKey: string, index: number, event: MouseEvent]
}

export class LaneView extends EventEmitter<LaneViewEvents> {
  private readonly root: HTMLElement
  private lanes: Lane[]
  private readonly laneHeight: number
  private readonly durationS: number

  constructor(options: LaneViewOptions) {
    super()
    this.lanes = options.lanes ?? []
    this.laneHeight = options.laneHeight ?? 26
    this.durationS = options.durationS
    this.root = options.parent.ownerDocument.createElement('div')
    this.root.setAttribute('part', 'lanes')
    this.root.setAttribute('data-testid', 'compare-lanes')
    Object.assign(this.root.style, { position: 'relative', width: '100%', background: '#f5f7fa', overflow: 'clip' })
    this.root.addEventListener('click', this.onClick)
    options.parent.append(this.root)
    this.render()
  }

  /** The lanes' element */
  getElement(): HTMLElement {
    return this.root
  }

  /** Replaces the lanes and redraws */
  setLanes(lanes: Lane[]): void {
    this.lanes = lanes
    this.render()
  }

  /** Unmount */
  destroy(): void {
    this.root.removeEventListener('click', this.onClick)
    this.root.remove()
    this.unAll()
  }

  private readonly onClick = (event: MouseEvent) => {
    const target = event.target instanceof Element ? event.target.closest<HTMLElement>('[data-lane-segment]') : null
    if (!target) return
    const lane = target.dataset.lane
    const index = Number(target.dataset.index)
    if (lane !== undefined && Number.isInteger(index)) this.emit('segment-click', lane, index, event)
  }

  private render() {
    const duration = this.durationS
    const doc = this.root.ownerDocument
    const height = this.laneHeight
    this.root.style.height = `${this.lanes.length * height}px`
    const rows = this.lanes.map((lane, row) => {
      const el = doc.createElement('div')
      el.setAttribute('data-testid', 'compare-lane')
      el.dataset.lane = lane.key
      Object.assign(el.style, {
        position: 'absolute',
        left: '0',
        right: '0',
        top: `${row * height}px`,
        height: `${height}px`,
        borderTop: row ? '1px solid #d9e2ec' : 'none',
        boxSizing: 'border-box',
      })
      if (duration > 0) {
        lane.segments.forEach((s, index) => {
          const box = doc.createElement('div')
          box.setAttribute('data-testid', 'compare-segment')
          box.dataset.laneSegment = ''
          box.dataset.lane = lane.key
          box.dataset.index = String(index)
          box.dataset.label = s.label
          box.title = `${s.label} ${s.start_s.toFixed(3)}–${s.end_s.toFixed(3)} s`
          box.textContent = s.label
          Object.assign(box.style, {
            position: 'absolute',
            top: '3px',
            bottom: '3px',
            left: `${(100 * s.start_s) / duration}%`,
            width: `${(100 * (s.end_s - s.start_s)) / duration}%`,
            minWidth: '2px',
            background: lane.color,
            opacity: '0.85',
            color: '#fff',
            font: '11px system-ui, sans-serif',
            lineHeight: `${height - 6}px`,
            padding: '0 3px',
            boxSizing: 'border-box',
            overflow: 'hidden',
            whiteSpace: 'nowrap',
            borderRadius: '3px',
            outline: lane.dashed ? '2px dashed #1f2933' : 'none',
            outlineOffset: '-2px',
            cursor: 'pointer',
          })
          el.append(box)
        })
      }
      const name = doc.createElement('div')
      name.textContent = lane.title
      name.setAttribute('data-testid', 'compare-lane-name')
      Object.assign(name.style, {
        position: 'sticky',
        left: '0',
        display: 'inline-block',
        zIndex: '3',
        maxWidth: '40%',
        marginTop: '4px',
        padding: '0 6px',
        font: '600 11px system-ui, sans-serif',
        lineHeight: `${height - 8}px`,
        color: '#fff',
        background: lane.color,
        borderRadius: '0 3px 3px 0',
        whiteSpace: 'nowrap',
        overflow: 'hidden',
        textOverflow: 'ellipsis',
        pointerEvents: 'none',
      })
      el.prepend(name)
      return el
    })
    this.root.replaceChildren(...rows)
  }
}
