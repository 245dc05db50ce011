// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import type { SpectrogramSettings } from '../types'
import { TileCache, TileHttpError, type TileImage } from './tile-cache'
import { TileLayer, tileKey } from './tile-layer'

const SETTINGS: SpectrogramSettings = { scale: 'mel', n_fft: 1024, db_min: -80, db_max: 0, cmap: 'viridis' }
const INFO = {
  tile_width_px: 512,
  tile_height_px: 256,
  px_per_s_levels: Array.from({ length: 14 }, (_, i) => 2 ** (i - 6)),
  duration_s: 3600,
}

type Call = {
  url: string
  signal: AbortSignal
  settled: boolean
  resolve: (img: TileImage) => void
  reject: (err: unknown) => void
}

/** Lets the fetch → decode → place chain run */
const flush = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup() {
  const calls: Call[] = []
  const load = vi.fn(
    (url: string, signal: AbortSignal) =>
      new Promise<TileImage>((resolve, reject) => {
        calls.push({ url, signal, settled: false, resolve, reject })
        signal.addEventListener('abort', () => {
          reject(new DOMException('aborted', 'AbortError'))
        })
      }),
  )
  const cache = new TileCache({ load })
  const container = document.createElement('div')
  document.body.append(container)
  const layer = new TileLayer({
    container,
    info: INFO,
    cache,
    // jsdom cannot decode PNGs: the "fetched" entries are the images themselves.
    decode: (image: TileImage) => Promise.resolve(image),
    settings: SETTINGS,
    margin: 0,
    tileUrl: (level, index, s) => `/tile?px_per_s=${level}&index=${index}&cmap=${s.cmap}`,
  })
  const pending = () => calls.filter((c) => !c.signal.aborted && !c.settled).map((c) => c.url)
  const answer = async (url: string) => {
    const call = calls.find((c) => c.url === url && !c.signal.aborted && !c.settled)
    if (!call) throw new Error(`no pending request for ${url}`)
    call.settled = true
    call.resolve({ width: 512, height: 256, close: vi.fn() })
    await flush()
  }
  const canvases = () => Array.from(container.querySelectorAll<HTMLCanvasElement>('canvas'))
  return { layer, cache, container, calls, load, pending, answer, canvases }
}

describe('TileLayer', () => {
  beforeEach(() => {
    // jsdom has no canvas drawing; the layer only needs drawImage to exist.
    vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue({
      drawImage: vi.fn(),
    } as unknown as CanvasRenderingContext2D)
  })
  afterEach(() => {
    document.body.replaceChildren()
  })

  it('fetches only the tiles in view, at the level for the zoom', () => {
    const { layer, pending } = setup()
    // 100 px/s → level 128 (4 s tiles); 10..20 s needs tiles 2..4.
    layer.update({ startS: 10, endS: 20, pxPerS: 100 })
    expect(pending()).toEqual([
      '/tile?px_per_s=128&index=2&cmap=viridis',
      '/tile?px_per_s=128&index=3&cmap=viridis',
      '/tile?px_per_s=128&index=4&cmap=viridis',
    ])
  })

  it('places each tile at its time, scaled to the view', async () => {
    const { layer, answer, canvases } = setup()
    layer.update({ startS: 10, endS: 20, pxPerS: 100 })
    await answer('/tile?px_per_s=128&index=3&cmap=viridis')
    const [canvas] = canvases()
    expect(canvas?.dataset.tile).toBe(tileKey(SETTINGS, 128, 3))
    // Tile 3 covers 12..16 s: 1200 px from the start, 400 px wide at 100 px/s.
    expect(canvas?.style.left).toBe('1200px')
    expect(canvas?.style.width).toBe('400px')
    expect(canvas?.getAttribute('data-testid')).toBe('spectrogram-tile')
    // Zooming moves and scales it without fetching it again.
    layer.update({ startS: 12, endS: 14, pxPerS: 128 })
    expect(canvas?.style.left).toBe('1536px')
    expect(canvas?.style.width).toBe('512px')
  })

  it('draws the narrower last tile at its true time span', async () => {
    const { layer, calls, canvases } = setup()
    // 3600 s at 128 px/s is 900 tiles exactly; pretend the last (899) holds 100 columns.
    layer.update({ startS: 3595, endS: 3600, pxPerS: 128 })
    const call = calls.find((c) => c.url.includes('index=899'))
    call?.resolve({ width: 100, height: 256 } as TileImage)
    await flush()
    const last = canvases().find((c) => c.dataset.tile === tileKey(SETTINGS, 128, 899))
    expect(last?.width).toBe(100)
    expect(last?.style.left).toBe(`${899 * 512}px`)
    expect(last?.style.width).toBe('100px')
  })

  it('cancels requests for tiles that scrolled out of view', () => {
    const { layer, calls, pending } = setup()
    layer.update({ startS: 10, endS: 20, pxPerS: 100 })
    layer.update({ startS: 100, endS: 104, pxPerS: 100 })
    expect(calls.slice(0, 3).every((c) => c.signal.aborted)).toBe(true)
    expect(pending()).toEqual(['/tile?px_per_s=128&index=25&cmap=viridis'])
  })

  it('keeps tiles of the old zoom until the new ones cover the view', async () => {
    const { layer, answer, canvases } = setup()
    layer.update({ startS: 0, endS: 4, pxPerS: 128 })
    await answer('/tile?px_per_s=128&index=0&cmap=viridis')
    expect(canvases()).toHaveLength(1)
    // Zoom out: 0..32 s at 16 px/s needs the level-16 tile 0 (32 s).
    layer.update({ startS: 0, endS: 32, pxPerS: 16 })
    expect(canvases()).toHaveLength(1)
    expect(canvases()[0]?.style.width).toBe('64px')
    await answer('/tile?px_per_s=16&index=0&cmap=viridis')
    expect(canvases().map((c) => c.dataset.tile)).toEqual([tileKey(SETTINGS, 16, 0)])
  })

  it('uses cached tiles without fetching again, and re-fetches everything for new settings', async () => {
    const { layer, answer, canvases, load, pending } = setup()
    layer.update({ startS: 0, endS: 4, pxPerS: 128 })
    await answer('/tile?px_per_s=128&index=0&cmap=viridis')
    layer.update({ startS: 40, endS: 44, pxPerS: 128 })
    await answer('/tile?px_per_s=128&index=10&cmap=viridis')
    expect(canvases().map((c) => c.dataset.tile)).toEqual([tileKey(SETTINGS, 128, 10)])
    layer.update({ startS: 0, endS: 4, pxPerS: 128 })
    await flush()
    expect(load).toHaveBeenCalledTimes(2)
    expect(canvases().map((c) => c.dataset.tile)).toContain(tileKey(SETTINGS, 128, 0))
    layer.setSettings({ ...SETTINGS, cmap: 'gray' })
    expect(pending()).toEqual(['/tile?px_per_s=128&index=0&cmap=gray'])
  })

  it('frees each decoded image once its canvas is drawn: the canvas is the only copy', async () => {
    const { layer, calls, canvases } = setup()
    layer.update({ startS: 0, endS: 4, pxPerS: 128 })
    const image = { width: 512, height: 256, close: vi.fn() }
    calls[0]?.resolve(image)
    await flush()
    expect(canvases()).toHaveLength(1)
    expect(image.close).toHaveBeenCalledTimes(1)
  })

  it('reports HTTP errors but not cancellations', async () => {
    const { layer, calls } = setup()
    const errors: unknown[] = []
    layer.on('error', (e) => errors.push(e))
    layer.update({ startS: 0, endS: 4, pxPerS: 128 })
    layer.update({ startS: 100, endS: 104, pxPerS: 128 })
    calls[1]?.reject(new TileHttpError(404, '/tile'))
    await new Promise((r) => setTimeout(r, 0))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(TileHttpError)
  })

  it('destroy() removes the tiles and cancels requests', async () => {
    const { layer, answer, canvases, calls } = setup()
    layer.update({ startS: 0, endS: 8, pxPerS: 128 })
    await answer('/tile?px_per_s=128&index=0&cmap=viridis')
    layer.destroy()
    expect(canvases()).toHaveLength(0)
    expect(calls[1]?.signal.aborted).toBe(true)
  })
})
