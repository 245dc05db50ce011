/**
 * Tile maths of the server-rendered spectrogram.
 *
 * The server renders tiles `tileWidthPx` wide at a few horizontal resolutions (`levels`, in
 * pixels per second, powers of two). Tile `index` at level L covers
 * [index·W/L, (index+1)·W/L) seconds. Row 0 is the highest frequency; the frequency axis runs
 * from 0 to Nyquist, linearly or on the HTK mel scale (mel = 2595·log10(1 + f/700)).
 */

/** Frequency axis of a tile */
export type FrequencyScale = 'mel' | 'linear'

/** HTK mel of a frequency in Hz */
export function hzToMel(hz: number): number {
  return 2595 * Math.log10(1 + hz / 700)
}

/** Frequency in Hz of an HTK mel value */
export function melToHz(mel: number): number {
  return 700 * (10 ** (mel / 2595) - 1)
}

/**
 * The level to fetch for a view drawn at `pxPerS`: the coarsest level at least as fine as the
 * view (so tiles are only ever shrunk, by at most 2×), or the finest level when the view is
 * finer than all of them (tiles are then stretched).
 */
export function chooseLevel(pxPerS: number, levels: readonly number[]): number {
  const sorted = [...levels].sort((a, b) => a - b)
  if (!sorted.length) throw new Error('no spectrogram levels')
  for (const level of sorted) {
    if (level >= pxPerS * (1 - 1e-9)) return level
  }
  return sorted[sorted.length - 1] ?? 1
}

/** Seconds covered by one tile at `level` */
export function tileDurationS(level: number, tileWidthPx: number): number {
  return tileWidthPx / level
}

/** How many tiles cover the recording at `level` */
export function tileCount(durationS: number, level: number, tileWidthPx: number): number {
  return Math.max(1, Math.ceil((durationS * level) / tileWidthPx - 1e-9))
}

/**
 * Indices of the tiles that cover [startS, endS) at `level`, plus `margin` tiles on each side,
 * within the recording (`count` tiles at this level, when the server says how many).
 */
export function tilesInView(
  startS: number,
  endS: number,
  level: number,
  tileWidthPx: number,
  durationS: number,
  margin = 0,
  count = tileCount(durationS, level, tileWidthPx),
): number[] {
  const span = tileDurationS(level, tileWidthPx)
  const first = Math.max(0, Math.floor(Math.max(0, startS) / span) - margin)
  const lastCovering = Math.ceil(Math.min(endS, durationS) / span - 1e-9) - 1
  const last = Math.min(count - 1, Math.max(first, lastCovering) + margin)
  const out: number[] = []
  for (let i = first; i <= last; i++) out.push(i)
  return out
}

/**
 * Where tile `index` of `level` sits in a view drawn at `pxPerS`: left edge and width in px.
 * Each image column is 1/level seconds, so a narrower image (the last tile) is drawn narrower:
 * pass its real width as `imageWidthPx`.
 */
export function tileRect(
  index: number,
  level: number,
  tileWidthPx: number,
  pxPerS: number,
  imageWidthPx = tileWidthPx,
): { left: number; width: number } {
  const span = tileDurationS(level, tileWidthPx)
  return { left: index * span * pxPerS, width: (imageWidthPx / level) * pxPerS }
}

/** The y pixel (0 = top = Nyquist) of a frequency, for a view `heightPx` tall */
export function hzToY(hz: number, scale: FrequencyScale, nyquistHz: number, heightPx: number): number {
  const f = Math.min(Math.max(hz, 0), nyquistHz)
  const fraction = scale === 'mel' ? hzToMel(f) / hzToMel(nyquistHz) : f / nyquistHz
  return (1 - fraction) * heightPx
}

/** The frequency at y pixel `y` (0 = top) of a view `heightPx` tall */
export function yToHz(y: number, scale: FrequencyScale, nyquistHz: number, heightPx: number): number {
  const fraction = 1 - Math.min(Math.max(y / heightPx, 0), 1)
  return scale === 'mel' ? melToHz(fraction * hzToMel(nyquistHz)) : fraction * nyquistHz
}

/** Tick frequencies for an axis: round numbers spread over the view */
export function frequencyTicks(scale: FrequencyScale, nyquistHz: number, heightPx: number, minGapPx = 28): number[] {
  const candidates = [
    50, 100, 200, 300, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000, 20000, 24000, 32000,
    48000, 64000, 96000,
  ].filter((f) => f < nyquistHz)
  const out: number[] = []
  let lastY = Infinity
  for (const f of candidates) {
    const y = hzToY(f, scale, nyquistHz, heightPx)
    if (lastY - y >= minGapPx && y >= minGapPx / 2) {
      out.push(f)
      lastY = y
    }
  }
  return out
}

/** Hz as a short label: "500", "1.5k", "12k" */
export function formatHz(hz: number): string {
  if (hz < 1000) return String(Math.round(hz))
  const k = hz / 1000
  return `${Number.isInteger(k) ? k : k.toFixed(1)}k`
}
