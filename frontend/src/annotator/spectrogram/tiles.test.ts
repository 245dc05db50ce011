import { describe, expect, it } from 'vitest'

import {
  chooseLevel,
  formatHz,
  frequencyTicks,
  hzToMel,
  hzToY,
  melToHz,
  tileCount,
  tileRect,
  tilesInView,
  yToHz,
} from './tiles'

/** 1/64 … 128 px/s, as the info endpoint lists them */
const LEVELS = Array.from({ length: 14 }, (_, i) => 2 ** (i - 6))
const W = 512

describe('chooseLevel', () => {
  it.each([
    [100, 128],
    [128, 128],
    [64.0000001, 128],
    [64, 64],
    [3, 4],
    [0.02, 1 / 32],
    [1 / 64, 1 / 64],
    [0.001, 1 / 64],
  ])('picks the coarsest level at least as fine as %s px/s: %s', (pxPerS, level) => {
    expect(chooseLevel(pxPerS, LEVELS)).toBe(level)
  })

  it('stretches the finest level beyond it', () => {
    expect(chooseLevel(500, LEVELS)).toBe(128)
  })

  it('does not care about the order of the levels', () => {
    expect(chooseLevel(5, [...LEVELS].reverse())).toBe(8)
  })

  it('refuses an empty list', () => {
    expect(() => chooseLevel(1, [])).toThrow()
  })
})

describe('tilesInView', () => {
  it('covers the view exactly: tile i spans [i·W/L, (i+1)·W/L)', () => {
    // At 128 px/s a tile is 4 s. A view of 10 s .. 17 s needs tiles 2, 3, 4.
    expect(tilesInView(10, 17, 128, W, 3600)).toEqual([2, 3, 4])
    // A view ending exactly on a tile edge does not need the next tile.
    expect(tilesInView(8, 16, 128, W, 3600)).toEqual([2, 3])
  })

  it('adds a margin on each side but stays inside the recording', () => {
    expect(tilesInView(10, 17, 128, W, 3600, 1)).toEqual([1, 2, 3, 4, 5])
    expect(tilesInView(0, 3, 128, W, 3600, 2)).toEqual([0, 1, 2])
    // 30 s at 128 px/s is 7.5 tiles: the last index is 7.
    expect(tilesInView(26, 30, 128, W, 30, 3)).toEqual([3, 4, 5, 6, 7])
  })

  it('needs one tile for a whole 12 h file at the coarsest level', () => {
    // 1/64 px/s: one tile spans 32768 s.
    expect(tilesInView(0, 43_200, 1 / 64, W, 43_200)).toEqual([0, 1])
    expect(tilesInView(0, 30_000, 1 / 64, W, 43_200)).toEqual([0])
  })

  it('fetches only a handful of tiles at the finest zoom of a long file', () => {
    // 1200 px of view at 128 px/s, two hours in.
    const start = 7200
    const tiles = tilesInView(start, start + 1200 / 128, 128, W, 43_200, 1)
    expect(tiles.length).toBeLessThanOrEqual(6)
    expect(tiles[0]).toBe(Math.floor((start * 128) / W) - 1)
  })

  it('uses the server’s tile count when given', () => {
    expect(tilesInView(26, 40, 128, W, 30, 0, 8)).toEqual([6, 7])
    // Never asks past the server's last tile (which it would answer with a 400).
    expect(tilesInView(26, 40, 128, W, 30, 1, 7)).toEqual([5, 6])
  })

  it('returns at least one tile for an empty view', () => {
    expect(tilesInView(5, 5, 128, W, 30)).toEqual([1])
  })
})

describe('tileCount and tileRect', () => {
  it('counts partial tiles', () => {
    expect(tileCount(30, 128, W)).toBe(8)
    expect(tileCount(32, 128, W)).toBe(8)
    expect(tileCount(0.1, 1, W)).toBe(1)
  })

  it('places a tile in the view, scaled to the view', () => {
    // Tile 3 at level 128 covers 12..16 s; drawn at 100 px/s it sits at 1200 px, 400 px wide.
    expect(tileRect(3, 128, W, 100)).toEqual({ left: 1200, width: 400 })
    // At its own level it is 512 px wide.
    expect(tileRect(3, 128, W, 128)).toEqual({ left: 1536, width: 512 })
    // The last tile's image is narrower (never padded): 256 columns are 2 s at 128 px/s.
    expect(tileRect(7, 128, W, 100, 256)).toEqual({ left: 2800, width: 200 })
  })
})

describe('frequency ↔ y', () => {
  const nyquist = 11_025
  const height = 256

  it('puts Nyquist at the top and 0 Hz at the bottom on both scales', () => {
    for (const scale of ['mel', 'linear'] as const) {
      expect(hzToY(nyquist, scale, nyquist, height)).toBeCloseTo(0)
      expect(hzToY(0, scale, nyquist, height)).toBeCloseTo(height)
      expect(yToHz(0, scale, nyquist, height)).toBeCloseTo(nyquist)
      expect(yToHz(height, scale, nyquist, height)).toBeCloseTo(0)
    }
  })

  it('is linear on the linear scale', () => {
    expect(hzToY(nyquist / 2, 'linear', nyquist, height)).toBeCloseTo(128)
    expect(yToHz(64, 'linear', nyquist, height)).toBeCloseTo(nyquist * 0.75)
  })

  it('uses the HTK mel formula on the mel scale', () => {
    expect(hzToMel(700)).toBeCloseTo(2595 * Math.log10(2))
    expect(hzToMel(1000)).toBeCloseTo(999.99, 1)
    const y = hzToY(1000, 'mel', nyquist, height)
    expect(y).toBeCloseTo(height * (1 - hzToMel(1000) / hzToMel(nyquist)))
    // Low frequencies get more room than on a linear axis.
    expect(height - y).toBeGreaterThan(height - hzToY(1000, 'linear', nyquist, height))
  })

  it('round-trips', () => {
    for (const scale of ['mel', 'linear'] as const) {
      for (const hz of [0, 50, 440, 1000, 4000, 11_000]) {
        expect(yToHz(hzToY(hz, scale, nyquist, height), scale, nyquist, height)).toBeCloseTo(hz, 6)
      }
    }
    expect(melToHz(hzToMel(1234))).toBeCloseTo(1234, 9)
  })

  it('clamps out-of-range input', () => {
    expect(hzToY(-5, 'linear', nyquist, height)).toBe(height)
    expect(hzToY(50_000, 'mel', nyquist, height)).toBeCloseTo(0)
    expect(yToHz(-10, 'linear', nyquist, height)).toBe(nyquist)
    expect(yToHz(999, 'mel', nyquist, height)).toBe(0)
  })
})

describe('axis labels', () => {
  it('spaces ticks at least minGap apart, top to bottom descending', () => {
    const ticks = frequencyTicks('mel', 11_025, 200, 28)
    expect(ticks.length).toBeGreaterThan(2)
    const ys = ticks.map((f) => hzToY(f, 'mel', 11_025, 200))
    for (let i = 1; i < ys.length; i++) expect((ys[i - 1] ?? 0) - (ys[i] ?? 0)).toBeGreaterThanOrEqual(28)
  })

  it('formats Hz briefly', () => {
    expect(formatHz(500)).toBe('500')
    expect(formatHz(1500)).toBe('1.5k')
    expect(formatHz(12000)).toBe('12k')
  })
})
