/**
 * Timeline: the time ruler above the waveform, drawing only the notches in view.
 *
 * wavesurfer.js's Timeline plugin builds an element for every notch of the whole recording on
 * every zoom (10,800 of them for 3 hours at 1 s spacing) and keeps them all; measured in the
 * annotator benchmark that was about 10 MB of DOM for the 3-hour file. This one keeps the
 * notches of the visible window plus a window on each side, placed inside wavesurfer's
 * scrolling wrapper, and redraws them only after a zoom or once the view leaves them.
 */
/** The visible window */
export type TimelineView = {
  /** Time at the left edge, in seconds */
  startS: number
  /** Time at the right edge, in seconds */
  endS: number
  /** Horizontal scale in CSS px per second */
  pxPerS: number
}

/** Spacing of the notches for a scale: a tick every `tickS`, a label every `labelS` */
export type TimelineSpacing = { tickS: number; labelS: number }

/** Steps that notches are spaced by, in seconds */
const STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]

/**
 * The spacing for `pxPerS`: ticks at least `minTickPx` apart and labels at least `minLabelPx`
 * apart, both on round steps.
 */
export function timelineSpacing(pxPerS: number, minTickPx = 10, minLabelPx = 80): TimelineSpacing {
  const pick = (minPx: number) => STEPS.find((s) => s * pxPerS >= minPx) ?? STEPS[STEPS.length - 1] ?? 3600
  const labelS = pick(minLabelPx)
  // The finest ticks that divide the label step evenly.
  const tickS = STEPS.find((s) => s <= labelS && s * pxPerS >= minTickPx && isMultiple(labelS, s))
  return { tickS: tickS ?? labelS, labelS }
}

function isMultiple(a: number, b: number): boolean {
  const ratio = a / b
  return Math.abs(ratio - Math.round(ratio)) < 1e-6
}

/** The notch times in [startS, endS] for a spacing: [time, isLabel] pairs */
export function notchesIn(
  startS: number,
  endS: number,
  spacing: TimelineSpacing,
  durationS: number,
): Array<[number, boolean]> {
  const out: Array<[number, boolean]> = []
  const first = Math.max(0, Math.ceil(startS / spacing.tickS - 1e-9))
  const last = Math.floor(Math.min(endS, durationS) / spacing.tickS + 1e-9)
  for (let i = first; i <= last; i++) {
    const t = Math.round(i * spacing.tickS * 1000) / 1000
    out.push([t, isMultiple(t, spacing.labelS)])
  }
  return out
}

export type TimelineOptions = {
  /** wavesurfer's wrapper (as wide as the whole waveform) */
  parent: HTMLElement
  /** The ruler goes before this child of `parent` (e.g. the spectrogram), else last */
  before?: Element | null
  /** Duration of the recording in seconds */
  durationS: number
  /** Formats a label */
  format: (seconds: number) => string
  /** Height in CSS px, defaults to 18 */
  height?: number
}

export class Timeline {
  private readonly root: HTMLElement
  private readonly options: TimelineOptions
  /** What is drawn: the scale and the time span */
  private drawn: { pxPerS: number; fromS: number; toS: number } | null = null

  constructor(options: TimelineOptions) {
    this.options = options
    const doc = options.parent.ownerDocument
    this.root = doc.createElement('div')
    this.root.setAttribute('part', 'timeline')
    this.root.setAttribute('data-testid', 'timeline')
    Object.assign(this.root.style, {
      position: 'relative',
      height: `${options.height ?? 18}px`,
      overflow: 'clip',
      font: '10px system-ui, sans-serif',
      color: '#52606d',
      pointerEvents: 'none',
      whiteSpace: 'nowrap',
    })
    options.parent.insertBefore(this.root, options.before ?? null)
  }

  /**
   * Draws the notches for a view and a view more on each side; nothing while the view stays
   * inside what is drawn at the same scale (a full scroll across redraws once per view).
   */
  render(view: TimelineView): void {
    const { durationS, format } = this.options
    if (!(view.pxPerS > 0)) return
    const drawn = this.drawn
    if (
      drawn &&
      Math.abs(drawn.pxPerS - view.pxPerS) < 1e-9 * view.pxPerS &&
      view.startS >= drawn.fromS &&
      Math.min(view.endS, durationS) <= drawn.toS
    )
      return
    const span = view.endS - view.startS
    const fromS = Math.max(0, view.startS - span)
    const toS = Math.min(durationS, view.endS + span)
    this.drawn = { pxPerS: view.pxPerS, fromS, toS }
    const doc = this.root.ownerDocument
    const notches = notchesIn(fromS, toS, timelineSpacing(view.pxPerS), durationS).map(([t, label]) => {
      const el = doc.createElement('div')
      // One style string: cheaper than setting properties one by one, on hundreds of notches.
      el.style.cssText = label
        ? `position:absolute;left:${t * view.pxPerS}px;bottom:0;height:100%;border-left:1px solid;padding-left:3px;line-height:12px`
        : `position:absolute;left:${t * view.pxPerS}px;bottom:0;height:35%;border-left:1px solid;opacity:.35`
      if (label) el.textContent = format(t)
      return el
    })
    this.root.replaceChildren(...notches)
  }

  /** Forgets what was drawn (the next render redraws) */
  invalidate(): void {
    this.drawn = null
  }

  /** Unmount */
  destroy(): void {
    this.root.remove()
  }
}
