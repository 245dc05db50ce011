/**
 * Waveform peaks at two resolutions: an overview of the whole recording (what wavesurfer is
 * given) and, when zoomed in further than the overview can show, a finer window around the
 * view fetched from the server.
 *
 * wavesurfer.js takes one peaks array for the whole duration, so the finer window cannot be
 * handed to it. Instead its `renderFunction` hook draws every canvas chunk itself: the chunk's
 * CSS position tells which seconds it covers, and the finest peaks covering them are drawn.
 */
import type { Peaks } from '../api/client'

/** Peaks of a time window, all channels, min/max interleaved */
export type PeaksSource = {
  /** Start of the window in seconds */
  startS: number
  /** End of the window in seconds */
  endS: number
  /** Bins per second */
  binsPerS: number
  /** Number of bins */
  bins: number
  /** Per channel: [min0, max0, min1, max1, ...] in [-1, 1] */
  data: Float32Array[]
}

/** A PeaksSource from the peaks endpoint's answer */
export function peaksSource(peaks: Peaks): PeaksSource {
  const data = peaks.data.map((channel) => Float32Array.from(channel))
  const bins = Math.floor((data[0]?.length ?? 0) / 2)
  const binsPerS = peaks.sample_rate_hz / peaks.samples_per_bin
  return { startS: peaks.start_s, endS: peaks.start_s + bins / binsPerS, binsPerS, bins, data }
}

/**
 * The envelope of [t0, t1) in `columns` columns: [min, max] per column over all channels;
 * NaN where the source has no data.
 */
export function envelope(source: PeaksSource, t0: number, t1: number, columns: number): Float32Array {
  const out = new Float32Array(columns * 2).fill(NaN)
  if (columns <= 0 || !(t1 > t0) || !source.bins) return out
  const binsPerColumn = ((t1 - t0) * source.binsPerS) / columns
  for (let x = 0; x < columns; x++) {
    const from = (t0 - source.startS) * source.binsPerS + x * binsPerColumn
    let first = Math.floor(from)
    let last = Math.max(first, Math.ceil(from + binsPerColumn) - 1)
    if (last < 0 || first >= source.bins) continue
    first = Math.max(0, first)
    last = Math.min(source.bins - 1, last)
    let min = Infinity
    let max = -Infinity
    for (const channel of source.data) {
      for (let b = first; b <= last; b++) {
        const lo = channel[2 * b] ?? 0
        const hi = channel[2 * b + 1] ?? 0
        if (lo < min) min = lo
        if (hi > max) max = hi
      }
    }
    out[2 * x] = min
    out[2 * x + 1] = max
  }
  return out
}

/** Whether `source` has data for all of [t0, t1] (to within a bin) */
export function covers(source: PeaksSource | null, t0: number, t1: number): boolean {
  if (!source) return false
  const slack = 1 / source.binsPerS
  return source.startS <= t0 + slack && source.endS >= t1 - slack
}

/** Draws an envelope into a canvas context: one bar per column, centred, in the current fill style */
export function drawEnvelope(ctx: CanvasRenderingContext2D, env: Float32Array, height: number, scale = 1): void {
  const mid = height / 2
  const columns = env.length / 2
  for (let x = 0; x < columns; x++) {
    const min = env[2 * x]
    const max = env[2 * x + 1]
    if (min === undefined || max === undefined || Number.isNaN(min) || Number.isNaN(max)) continue
    const top = mid - Math.min(1, max * scale) * mid
    const bottom = mid - Math.max(-1, min * scale) * mid
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top))
  }
}

export type WaveformPeaksOptions = {
  /** Peaks of the whole recording */
  overview: Peaks
  /** Duration of the recording in seconds */
  durationS: number
  /** The finest resolution the server has, in bins per second */
  finestBinsPerS: number
  /** Fetches peaks for [startS, endS) with about `targetBins` bins */
  fetchWindow: (startS: number, endS: number, targetBins: number, signal: AbortSignal) => Promise<Peaks>
  /** Called when finer peaks arrived and the waveform should be drawn again */
  onDetail: () => void
  /** The current horizontal scale of the waveform in CSS px per second */
  getPxPerS: () => number
  /** Quiet time after scrolling or zooming before finer peaks are fetched, in ms; defaults to 150 */
  debounceMs?: number
  /** Vertical gain of the drawing, defaults to 1 */
  gain?: number
}

/** A view of the waveform */
export type PeaksView = { startS: number; endS: number; pxPerS: number }

export class WaveformPeaks {
  private readonly options: WaveformPeaksOptions
  readonly overview: PeaksSource
  private detail: PeaksSource | null = null
  private controller: AbortController | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private destroyed = false

  constructor(options: WaveformPeaksOptions) {
    this.options = options
    this.overview = peaksSource(options.overview)
  }

  /** The finer window, when one is loaded */
  getDetail(): PeaksSource | null {
    return this.detail
  }

  /** The resolution a view needs, in bins per second (capped by what the server has) */
  neededBinsPerS(pxPerS: number): number {
    return Math.min(pxPerS, this.options.finestBinsPerS)
  }

  /** Whether a view needs finer peaks than those loaded */
  needsDetail(view: PeaksView): boolean {
    const need = this.neededBinsPerS(view.pxPerS)
    if (this.overview.binsPerS >= need / 2) return false
    const detail = this.detail
    return !(
      detail &&
      detail.binsPerS >= need / 2 &&
      covers(detail, view.startS, Math.min(view.endS, this.options.durationS))
    )
  }

  /** The window and bin count to fetch for a view: the view plus half a view on each side */
  windowFor(view: PeaksView): { startS: number; endS: number; targetBins: number } {
    const span = view.endS - view.startS
    const startS = Math.max(0, view.startS - span / 2)
    const endS = Math.min(this.options.durationS, view.endS + span / 2)
    const targetBins = Math.max(1, Math.ceil((endS - startS) * this.neededBinsPerS(view.pxPerS) * 2))
    return { startS, endS, targetBins }
  }

  /** Called on every scroll and zoom; fetches finer peaks after a quiet moment when needed */
  onView(view: PeaksView): void {
    if (this.destroyed) return
    clearTimeout(this.timer)
    if (!this.needsDetail(view)) return
    this.timer = setTimeout(() => {
      void this.fetchDetail(view)
    }, this.options.debounceMs ?? 150)
  }

  /** Fetches finer peaks for `view` now (cancelling an older request) */
  async fetchDetail(view: PeaksView): Promise<void> {
    this.controller?.abort()
    const controller = new AbortController()
    this.controller = controller
    const { startS, endS, targetBins } = this.windowFor(view)
    try {
      const peaks = await this.options.fetchWindow(startS, endS, targetBins, controller.signal)
      if (this.destroyed || controller.signal.aborted) return
      const source = peaksSource(peaks)
      if (source.binsPerS <= this.overview.binsPerS) return
      this.detail = source
      this.options.onDetail()
    } catch {
      // Finer peaks are a nicety: the overview stays drawn.
    } finally {
      if (this.controller === controller) this.controller = null
    }
  }

  /**
   * wavesurfer's `renderFunction`: draws the canvas chunk `ctx.canvas` from the finest peaks
   * that cover its seconds. The chunk's CSS left and width (set by wavesurfer before it calls
   * this) give its position in the scrolling waveform.
   */
  readonly render = (_peaks: Array<Float32Array | number[]>, ctx: CanvasRenderingContext2D): void => {
    const canvas = ctx.canvas
    const pxPerS = this.options.getPxPerS()
    if (!(pxPerS > 0)) return
    const leftCss = parseFloat(canvas.style.left) || 0
    const widthCss = parseFloat(canvas.style.width) || canvas.width
    const t0 = leftCss / pxPerS
    const t1 = (leftCss + widthCss) / pxPerS
    const env = envelope(this.overview, t0, t1, canvas.width)
    const detail = this.detail
    if (detail && detail.startS < t1 && detail.endS > t0) {
      // The finer peaks where they reach, the overview elsewhere.
      const fine = envelope(detail, t0, t1, canvas.width)
      for (let i = 0; i < fine.length; i++) {
        const v = fine[i]
        if (v !== undefined && !Number.isNaN(v)) env[i] = v
      }
    }
    drawEnvelope(ctx, env, canvas.height, this.options.gain ?? 1)
  }

  /** Cancels requests and timers */
  destroy(): void {
    this.destroyed = true
    clearTimeout(this.timer)
    this.controller?.abort()
  }
}
