/**
 * TileCache: a small LRU of decoded spectrogram tiles plus the requests in flight, which can be
 * cancelled when their tiles scroll out of view.
 */

/** A decoded tile image */
export type TileImage = CanvasImageSource & {
  /** Width in pixels */
  readonly width: number
  /** Height in pixels */
  readonly height: number
  /** Frees the image (ImageBitmap) */
  close?: () => void
}

/** Fetches and decodes one tile; must reject with an AbortError when `signal` aborts */
export type TileLoader = (url: string, signal: AbortSignal) => Promise<TileImage>

/** A tile request answered with an HTTP error */
export class TileHttpError extends Error {
  constructor(
    /** HTTP status */
    readonly status: number,
    url: string,
  ) {
    super(`spectrogram tile ${url}: HTTP ${status}`)
    this.name = 'TileHttpError'
  }
}

/** Loads a tile with fetch (session cookie) and decodes it with createImageBitmap */
export const fetchTile: TileLoader = async (url, signal) => {
  const response = await fetch(url, { credentials: 'same-origin', signal })
  if (!response.ok) throw new TileHttpError(response.status, url)
  const blob = await response.blob()
  return createImageBitmap(blob)
}

export type TileCacheOptions = {
  /** Fetches one tile, defaults to `fetchTile` */
  load?: TileLoader
  /** How many decoded tiles are kept (0.5 MiB each), defaults to 24 */
  capacity?: number
}

type Pending = { controller: AbortController; promise: Promise<TileImage> }

export class TileCache {
  private readonly load: TileLoader
  private readonly capacity: number
  /** Insertion order is recency order: the first entry is the least recently used */
  private readonly images = new Map<string, TileImage>()
  private readonly pending = new Map<string, Pending>()

  constructor(options: TileCacheOptions = {}) {
    this.load = options.load ?? fetchTile
    // Enough for a screen and its margins at two zoom levels; going back further refetches,
    // which the browser's HTTP cache answers (tiles are sent with max-age).
    this.capacity = Math.max(1, options.capacity ?? 24)
  }

  /** The decoded tile, marking it recently used; undefined when not cached */
  get(key: string): TileImage | undefined {
    const image = this.images.get(key)
    if (image) {
      this.images.delete(key)
      this.images.set(key, image)
    }
    return image
  }

  /** Whether a tile is cached */
  has(key: string): boolean {
    return this.images.has(key)
  }

  /** Whether a tile is being fetched */
  isPending(key: string): boolean {
    return this.pending.has(key)
  }

  /** Number of cached tiles */
  get size(): number {
    return this.images.size
  }

  /** Keys of the requests in flight */
  pendingKeys(): string[] {
    return [...this.pending.keys()]
  }

  /** The tile from the cache, or fetched once however often it is asked for */
  request(key: string, url: string): Promise<TileImage> {
    const cached = this.get(key)
    if (cached) return Promise.resolve(cached)
    const inflight = this.pending.get(key)
    if (inflight) return inflight.promise
    const controller = new AbortController()
    const promise = this.load(url, controller.signal).then(
      (image) => {
        if (this.pending.get(key)?.controller === controller) this.pending.delete(key)
        if (controller.signal.aborted) {
          image.close?.()
          throw new DOMException('tile request cancelled', 'AbortError')
        }
        this.put(key, image)
        return image
      },
      (err: unknown) => {
        if (this.pending.get(key)?.controller === controller) this.pending.delete(key)
        throw err
      },
    )
    this.pending.set(key, { controller, promise })
    return promise
  }

  /** Cancels every request in flight whose key is not in `keep`; returns how many */
  cancelExcept(keep: ReadonlySet<string>): number {
    let cancelled = 0
    for (const [key, { controller }] of this.pending) {
      if (keep.has(key)) continue
      controller.abort()
      this.pending.delete(key)
      cancelled++
    }
    return cancelled
  }

  /** Cancels everything and frees every image */
  clear(): void {
    this.cancelExcept(new Set())
    for (const image of this.images.values()) image.close?.()
    this.images.clear()
  }

  private put(key: string, image: TileImage) {
    this.images.delete(key)
    this.images.set(key, image)
    while (this.images.size > this.capacity) {
      const oldest = this.images.keys().next().value
      if (oldest === undefined) break
      this.images.get(oldest)?.close?.()
      this.images.delete(oldest)
    }
  }
}
