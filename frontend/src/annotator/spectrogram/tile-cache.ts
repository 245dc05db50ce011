/**
 * TileCache: a small LRU of fetched spectrogram tiles plus the requests in flight, which can be
 * cancelled when their tiles scroll out of view.
 *
 * It keeps tiles as fetched, PNG blobs of about 90 kB, not decoded (512 × 256 × 4 bytes =
 * 0.5 MiB each): the tile layer decodes a tile when it places it and keeps only the pixels on
 * screen. Measured in the annotator benchmark, a cache of 24 decoded tiles cost about 15 MB.
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

/** Fetches one tile; must reject with an AbortError when `signal` aborts */
export type TileLoader<T> = (url: string, signal: AbortSignal) => Promise<T>

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

/** Loads a tile with fetch (session cookie), as a PNG blob */
export const fetchTile: TileLoader<Blob> = async (url, signal) => {
  const response = await fetch(url, { credentials: 'same-origin', signal })
  if (!response.ok) throw new TileHttpError(response.status, url)
  return response.blob()
}

/** Decodes a fetched tile (a PNG blob) into an image */
export const decodeTile = (blob: Blob): Promise<TileImage> => createImageBitmap(blob)

export type TileCacheOptions<T> = {
  /** Fetches one tile, defaults to `fetchTile` (a blob) */
  load?: TileLoader<T>
  /** How many tiles are kept, defaults to 32 (about 3 MB of PNG) */
  capacity?: number
}

type Pending<T> = { controller: AbortController; promise: Promise<T> }

/** Frees what the cache drops, when it can be freed (an ImageBitmap) */
function release(entry: object) {
  if ('close' in entry && typeof entry.close === 'function') (entry as { close: () => void }).close()
}

export class TileCache<T extends object = Blob> {
  private readonly load: TileLoader<T>
  private readonly capacity: number
  /** Insertion order is recency order: the first entry is the least recently used */
  private readonly images = new Map<string, T>()
  private readonly pending = new Map<string, Pending<T>>()

  constructor(options: TileCacheOptions<T> = {}) {
    this.load = options.load ?? (fetchTile as unknown as TileLoader<T>)
    // A screen and its margins at a few zoom levels; going back further refetches, which the
    // browser's HTTP cache answers (tiles are sent with max-age).
    this.capacity = Math.max(1, options.capacity ?? 32)
  }

  /** The cached tile, marking it recently used; undefined when not cached */
  get(key: string): T | undefined {
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
  request(key: string, url: string): Promise<T> {
    const cached = this.get(key)
    if (cached) return Promise.resolve(cached)
    const inflight = this.pending.get(key)
    if (inflight) return inflight.promise
    const controller = new AbortController()
    const promise = this.load(url, controller.signal).then(
      (image) => {
        if (this.pending.get(key)?.controller === controller) this.pending.delete(key)
        if (controller.signal.aborted) {
          release(image)
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
    for (const image of this.images.values()) release(image)
    this.images.clear()
  }

  private put(key: string, image: T) {
    this.images.delete(key)
    this.images.set(key, image)
    while (this.images.size > this.capacity) {
      const oldest = this.images.keys().next().value
      if (oldest === undefined) break
      const dropped = this.images.get(oldest)
      if (dropped) release(dropped)
      this.images.delete(oldest)
    }
  }
}
