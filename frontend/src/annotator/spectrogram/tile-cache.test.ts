import { describe, expect, it, vi } from 'vitest'

import { TileCache, type TileImage } from './tile-cache'

function image(name: string): TileImage & { name: string; close: ReturnType<typeof vi.fn> } {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- a stand-in for an ImageBitmap
  return { name, width: 512, height: 256, close: vi.fn() } as unknown as TileImage & {
    name: string
    close: ReturnType<typeof vi.fn>
  }
}

/** A loader whose requests the test resolves by hand */
function manualLoader() {
  const calls: Array<{
    url: string
    signal: AbortSignal
    resolve: (img: TileImage) => void
    reject: (e: unknown) => void
  }> = []
  const load = vi.fn(
    (url: string, signal: AbortSignal) =>
      new Promise<TileImage>((resolve, reject) => {
        calls.push({ url, signal, resolve, reject })
        signal.addEventListener('abort', () => {
          reject(new DOMException('aborted', 'AbortError'))
        })
      }),
  )
  return { load, calls }
}

describe('TileCache', () => {
  it('fetches a tile once however often it is asked for, then serves it from memory', async () => {
    const { load, calls } = manualLoader()
    const cache = new TileCache({ load })
    const a = cache.request('k1', '/t/1')
    const b = cache.request('k1', '/t/1')
    expect(load).toHaveBeenCalledTimes(1)
    expect(cache.isPending('k1')).toBe(true)
    const img = image('one')
    calls[0]?.resolve(img)
    await expect(a).resolves.toBe(img)
    await expect(b).resolves.toBe(img)
    expect(cache.has('k1')).toBe(true)
    expect(cache.isPending('k1')).toBe(false)
    await expect(cache.request('k1', '/t/1')).resolves.toBe(img)
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('evicts the least recently used tile and frees it', async () => {
    const images = new Map<string, ReturnType<typeof image>>()
    const cache = new TileCache({
      capacity: 2,
      load: (url) => {
        const img = image(url)
        images.set(url, img)
        return Promise.resolve(img)
      },
    })
    await cache.request('a', 'a')
    await cache.request('b', 'b')
    cache.get('a') // a is now more recent than b
    await cache.request('c', 'c')
    expect(cache.has('a')).toBe(true)
    expect(cache.has('b')).toBe(false)
    expect(cache.has('c')).toBe(true)
    expect(images.get('b')?.close).toHaveBeenCalledTimes(1)
    expect(cache.size).toBe(2)
  })

  it('cancels requests that are no longer needed and does not cache them', async () => {
    const { load, calls } = manualLoader()
    const cache = new TileCache({ load })
    const keep = cache.request('keep', '/keep')
    const drop = cache.request('drop', '/drop')
    expect(cache.cancelExcept(new Set(['keep']))).toBe(1)
    expect(calls[1]?.signal.aborted).toBe(true)
    expect(calls[0]?.signal.aborted).toBe(false)
    await expect(drop).rejects.toMatchObject({ name: 'AbortError' })
    expect(cache.pendingKeys()).toEqual(['keep'])
    calls[0]?.resolve(image('keep'))
    await keep
    expect(cache.has('keep')).toBe(true)
    expect(cache.has('drop')).toBe(false)
  })

  it('frees an image that arrives after its request was cancelled', async () => {
    let resolve: (img: TileImage) => void = () => undefined
    const cache = new TileCache({
      // A loader that ignores the signal.
      load: () =>
        new Promise<TileImage>((r) => {
          resolve = r
        }),
    })
    const promise = cache.request('k', '/k')
    cache.cancelExcept(new Set())
    const late = image('late')
    resolve(late)
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' })
    expect(late.close).toHaveBeenCalled()
    expect(cache.has('k')).toBe(false)
  })

  it('passes failures on and tries again next time', async () => {
    const load = vi.fn().mockRejectedValueOnce(new Error('HTTP 404')).mockResolvedValueOnce(image('ok'))
    const cache = new TileCache({ load })
    await expect(cache.request('k', '/k')).rejects.toThrow('HTTP 404')
    await expect(cache.request('k', '/k')).resolves.toMatchObject({ name: 'ok' })
  })

  it('clear() cancels and frees everything', async () => {
    const { load, calls } = manualLoader()
    const cache = new TileCache({ load })
    const first = cache.request('a', 'a')
    calls[0]?.resolve(image('a'))
    const img = (await first) as ReturnType<typeof image>
    const pending = cache.request('b', 'b')
    cache.clear()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(img.close).toHaveBeenCalled()
    expect(cache.size).toBe(0)
  })
})
