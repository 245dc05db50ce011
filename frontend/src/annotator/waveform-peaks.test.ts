import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { Peaks } from '../api/client'
import { covers, drawEnvelope, envelope, peaksSource, WaveformPeaks } from './waveform-peaks'

function peaks(overrides: Partial<Peaks> = {}): Peaks {
  return {
    duration_s: 10,
    sample_rate_hz: 1000,
    channels: 2,
    samples_per_bin: 100, // 10 bins per second
    start_s: 0,
    end_s: 10,
    data: [
      Array.from({ length: 200 }, (_, i) => (i % 2 ? 0.5 : -0.25)),
      Array.from({ length: 200 }, (_, i) => (i % 2 ? 0.1 : -0.75)),
    ],
    ...overrides,
  }
}

describe('peaks sources', () => {
  it('knows their window and resolution', () => {
    const source = peaksSource(peaks({ start_s: 2, data: [[0, 1, 0, 1]] }))
    expect(source).toMatchObject({ startS: 2, binsPerS: 10, bins: 2 })
    expect(source.endS).toBeCloseTo(2.2)
    expect(covers(source, 2, 2.2)).toBe(true)
    expect(covers(source, 1, 2.2)).toBe(false)
    expect(covers(null, 0, 1)).toBe(false)
  })

  it('envelope: min and max over all channels per column; NaN outside the data', () => {
    const source = peaksSource(peaks())
    const env = envelope(source, 0, 1, 5) // 10 bins into 5 columns
    expect(Array.from(env)).toEqual([-0.75, 0.5, -0.75, 0.5, -0.75, 0.5, -0.75, 0.5, -0.75, 0.5])
    const outside = envelope(source, 9.5, 10.5, 2)
    expect(outside[0]).toBe(-0.75)
    expect(Number.isNaN(outside[2] ?? 0)).toBe(true)
    // More columns than bins: each column shows its bin.
    expect(envelope(source, 0, 0.1, 4).every((v) => !Number.isNaN(v))).toBe(true)
  })

  it('draws one bar per column, centred', () => {
    const fillRect = vi.fn()
    drawEnvelope({ fillRect } as unknown as CanvasRenderingContext2D, Float32Array.from([-0.5, 0.5, NaN, NaN]), 100)
    expect(fillRect).toHaveBeenCalledTimes(1)
    expect(fillRect).toHaveBeenCalledWith(0, 25, 1, 50)
  })
})

describe('WaveformPeaks', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  function setup(pxPerS = 100) {
    const onDetail = vi.fn()
    const fetchWindow = vi.fn((startS: number, endS: number, _targetBins: number, _signal: AbortSignal) =>
      Promise.resolve(
        peaks({
          samples_per_bin: 10, // 100 bins per second
          start_s: startS,
          end_s: endS,
          data: [Array.from({ length: Math.round((endS - startS) * 100) * 2 }, (_, i) => (i % 2 ? 0.9 : -0.9))],
        }),
      ),
    )
    let px = pxPerS
    const wp = new WaveformPeaks({
      overview: peaks(),
      durationS: 10,
      finestBinsPerS: 100,
      fetchWindow,
      onDetail,
      getPxPerS: () => px,
    })
    return {
      wp,
      fetchWindow,
      onDetail,
      setPx: (v: number) => {
        px = v
      },
    }
  }

  it('needs no detail while the overview is fine enough', () => {
    const { wp, fetchWindow } = setup()
    expect(wp.needsDetail({ startS: 0, endS: 10, pxPerS: 15 })).toBe(false)
    wp.onView({ startS: 0, endS: 10, pxPerS: 15 })
    void vi.advanceTimersByTimeAsync(1000)
    expect(fetchWindow).not.toHaveBeenCalled()
  })

  it('fetches the view plus half a view each side, after the view settles', async () => {
    const { wp, fetchWindow, onDetail } = setup()
    const view = { startS: 4, endS: 6, pxPerS: 100 }
    expect(wp.needsDetail(view)).toBe(true)
    expect(wp.windowFor(view)).toEqual({ startS: 3, endS: 7, targetBins: 800 })
    wp.onView(view)
    wp.onView({ ...view, startS: 4.1, endS: 6.1 })
    await vi.advanceTimersByTimeAsync(149)
    expect(fetchWindow).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(fetchWindow).toHaveBeenCalledTimes(1)
    const [start, end, bins] = fetchWindow.mock.calls[0] ?? []
    expect(start).toBeCloseTo(3.1)
    expect(end).toBeCloseTo(7.1)
    expect(bins).toBe(800)
    await vi.advanceTimersByTimeAsync(0)
    expect(onDetail).toHaveBeenCalledTimes(1)
    expect(wp.getDetail()?.binsPerS).toBe(100)
    // Covered now: scrolling a little does not fetch again.
    expect(wp.needsDetail({ startS: 4.5, endS: 6.5, pxPerS: 100 })).toBe(false)
    expect(wp.needsDetail({ startS: 8, endS: 10, pxPerS: 100 })).toBe(true)
  })

  it('cancels the previous request when the view moves on', async () => {
    const { wp, fetchWindow } = setup()
    const p1 = wp.fetchDetail({ startS: 0, endS: 1, pxPerS: 100 })
    const p2 = wp.fetchDetail({ startS: 8, endS: 9, pxPerS: 100 })
    const signal = fetchWindow.mock.calls[0]?.[3]
    expect(signal?.aborted).toBe(true)
    await Promise.all([p1, p2])
    expect(wp.getDetail()?.startS).toBe(7.5)
  })

  it('draws each canvas chunk from the finest peaks covering its seconds', async () => {
    const { wp } = setup()
    await wp.fetchDetail({ startS: 4, endS: 6, pxPerS: 100 })
    const bars: Array<[number, number, number, number]> = []
    const canvas = { width: 4, height: 100, style: { left: '400px', width: '4px' } }
    const ctx = {
      canvas,
      fillRect: (...a: [number, number, number, number]) => bars.push(a),
    } as unknown as CanvasRenderingContext2D
    wp.render([], ctx)
    // 4.00–4.04 s lies in the detail window (±0.9), not the overview (-0.75..0.5).
    expect(bars).toHaveLength(4)
    const [x, top, w, h] = bars[0] ?? []
    expect([x, w]).toEqual([0, 1])
    // ±0.9 of a 100 px canvas: from 5 to 95 (float32 peaks).
    expect(top).toBeCloseTo(5, 4)
    expect(h).toBeCloseTo(90, 4)
    // A chunk outside the detail window falls back to the overview.
    bars.length = 0
    canvas.style.left = '0px'
    wp.render([], ctx)
    const [, top2, , h2] = bars[0] ?? []
    expect(top2).toBeCloseTo(25, 4)
    expect(h2).toBeCloseTo(62.5, 4)
  })

  it('destroy() cancels the pending fetch', async () => {
    const { wp, fetchWindow } = setup()
    wp.onView({ startS: 4, endS: 6, pxPerS: 100 })
    wp.destroy()
    await vi.advanceTimersByTimeAsync(1000)
    expect(fetchWindow).not.toHaveBeenCalled()
  })
})
