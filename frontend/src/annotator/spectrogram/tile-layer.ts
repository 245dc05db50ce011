/**
 * TileLayer: places spectrogram tiles (one canvas each) at their time positions inside a
 * container that scrolls with the waveform, so they line up with it at every zoom and scroll
 * position without redrawing on scroll. Only the tiles in view (plus a margin) are fetched;
 * requests for tiles that left the view are cancelled. Tiles of the previous zoom level stay,
 * stretched, until their replacements arrive, so zooming never flashes an empty area.
 *
 * A tile is decoded when it is placed and its canvas is then the only copy of its pixels: the
 * decoded image is freed at once, and the cache keeps only the PNG.
 */
import EventEmitter from '../../common/event-emitter'
import type { SpectrogramInfo, SpectrogramSettings } from '../types'
import { decodeTile, type TileCache, type TileImage } from './tile-cache'
import { chooseLevel, tileRect, tilesInView } from './tiles'

/** The visible time window and its scale */
export type TileView = {
  /** Time at the left edge of the view, in seconds */
  startS: number
  /** Time at the right edge of the view, in seconds */
  endS: number
  /** Horizontal scale of the view */
  pxPerS: number
}

export type TileLayerEvents = {
  /** When a tile request fails with anything but a cancellation */
  error: [error: unknown]
  /** When a tile is drawn */
  tile: [key: string]
}

export type TileLayerOptions<T extends object = Blob> = {
  /** A positioned element, as wide as the whole waveform, that receives the tile canvases */
  container: HTMLElement
  /** Tile geometry and levels from the info endpoint */
  info: Pick<SpectrogramInfo, 'tile_width_px' | 'tile_height_px' | 'px_per_s_levels' | 'duration_s' | 'tiles_per_level'>
  /** Fetched tiles and requests in flight */
  cache: TileCache<T>
  /** Decodes a fetched tile, defaults to createImageBitmap of the PNG blob */
  decode?: (entry: T) => Promise<TileImage>
  /** The URL of a tile */
  tileUrl: (level: number, index: number, settings: SpectrogramSettings) => string
  /** Rendering settings */
  settings: SpectrogramSettings
  /** Tiles fetched beyond each side of the view, defaults to 1 */
  margin?: number
}

type Placed = {
  canvas: HTMLCanvasElement
  level: number
  index: number
  /** Width of the image in pixels (the last tile is narrower than the others) */
  imageWidth: number
  settingsKey: string
  left: number
  width: number
}

/** A stable string for a settings combination */
export function settingsKey(settings: SpectrogramSettings): string {
  return `${settings.scale}/${settings.n_fft}/${settings.db_min}/${settings.db_max}/${settings.cmap}`
}

/** The cache key of a tile */
export function tileKey(settings: SpectrogramSettings, level: number, index: number): string {
  return `${settingsKey(settings)}|${level}|${index}`
}

export class TileLayer<T extends object = Blob> extends EventEmitter<TileLayerEvents> {
  private readonly options: TileLayerOptions<T>
  private readonly decode: (entry: T) => Promise<TileImage>
  private readonly placed = new Map<string, Placed>()
  /** Tiles being decoded, so a tile asked for again meanwhile is not decoded twice */
  private readonly decoding = new Set<string>()
  private settings: SpectrogramSettings
  private view: TileView | null = null
  private needed = new Set<string>()
  private destroyed = false

  constructor(options: TileLayerOptions<T>) {
    super()
    this.options = options
    this.decode = options.decode ?? (decodeTile as unknown as (entry: T) => Promise<TileImage>)
    this.settings = options.settings
  }

  /** Keys of the tiles the current view needs */
  neededKeys(): ReadonlySet<string> {
    return this.needed
  }

  /** Keys of the tiles on screen */
  placedKeys(): string[] {
    return [...this.placed.keys()]
  }

  /** Changes the rendering settings: every tile is fetched again */
  setSettings(settings: SpectrogramSettings): void {
    this.settings = settings
    if (this.view) this.update(this.view)
  }

  /** Shows the tiles for `view`, fetching the missing ones and cancelling the unneeded */
  update(view: TileView): void {
    if (this.destroyed || !(view.pxPerS > 0)) return
    this.view = view
    const { info, cache } = this.options
    const level = chooseLevel(view.pxPerS, info.px_per_s_levels)
    // The server's count when it gives one (it knows its rounding), else computed.
    const count = info.tiles_per_level?.[String(level)]
    const indices = tilesInView(
      view.startS,
      view.endS,
      level,
      info.tile_width_px,
      info.duration_s,
      this.options.margin ?? 1,
      ...(count ? [count] : []),
    )
    this.needed = new Set(indices.map((i) => tileKey(this.settings, level, i)))
    for (const tile of this.placed.values()) this.position(tile, view.pxPerS)
    for (const index of indices) {
      const key = tileKey(this.settings, level, index)
      if (this.placed.has(key) || this.decoding.has(key)) continue
      const wanted = () => !this.destroyed && this.needed.has(key) && !this.placed.has(key)
      cache
        .request(key, this.options.tileUrl(level, index, this.settings))
        .then(async (entry) => {
          if (!wanted() || this.decoding.has(key)) return
          this.decoding.add(key)
          let image: TileImage
          try {
            image = await this.decode(entry)
          } finally {
            this.decoding.delete(key)
          }
          try {
            if (!wanted()) return
            this.place(key, image, level, index)
            this.prune()
            this.emit('tile', key)
          } finally {
            image.close?.()
          }
        })
        .catch((err: unknown) => {
          if (this.destroyed || isAbort(err)) return
          this.emit('error', err)
        })
    }
    cache.cancelExcept(this.needed)
    this.prune()
  }

  /** Removes every tile canvas and cancels every request */
  clear(): void {
    for (const tile of this.placed.values()) tile.canvas.remove()
    this.placed.clear()
    this.options.cache.cancelExcept(new Set())
  }

  /** Removes the tiles and stops */
  destroy(): void {
    this.destroyed = true
    this.clear()
    this.unAll()
  }

  private place(key: string, image: TileImage, level: number, index: number) {
    const doc = this.options.container.ownerDocument
    const canvas = doc.createElement('canvas')
    canvas.width = image.width || this.options.info.tile_width_px
    canvas.height = image.height || this.options.info.tile_height_px
    canvas.setAttribute('data-testid', 'spectrogram-tile')
    canvas.dataset.tile = key
    Object.assign(canvas.style, { position: 'absolute', top: '0', height: '100%', display: 'block' })
    canvas.getContext('2d')?.drawImage(image, 0, 0)
    const tile: Placed = {
      canvas,
      level,
      index,
      imageWidth: canvas.width,
      settingsKey: settingsKey(this.settings),
      left: NaN,
      width: NaN,
    }
    if (this.view) this.position(tile, this.view.pxPerS)
    this.options.container.append(canvas)
    this.placed.set(key, tile)
  }

  private position(tile: Placed, pxPerS: number) {
    const { left, width } = tileRect(tile.index, tile.level, this.options.info.tile_width_px, pxPerS, tile.imageWidth)
    // Write only what changed: no reads, no needless style recalculation.
    if (left !== tile.left) {
      tile.canvas.style.left = `${left}px`
      tile.left = left
    }
    if (width !== tile.width) {
      tile.canvas.style.width = `${width}px`
      tile.width = width
    }
  }

  /** Drops tiles that are not needed: all of them once the view is covered, else those out of view */
  private prune() {
    const covered = [...this.needed].every((key) => this.placed.has(key))
    const view = this.view
    for (const [key, tile] of this.placed) {
      if (this.needed.has(key)) continue
      const outOfView =
        !view || tile.left > view.endS * view.pxPerS || tile.left + tile.width < view.startS * view.pxPerS
      const staleSettings = tile.settingsKey !== settingsKey(this.settings)
      if (covered || outOfView || (staleSettings && this.placed.size > 24)) {
        tile.canvas.remove()
        this.placed.delete(key)
      }
    }
  }
}

function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'name' in err && err.name === 'AbortError'
}
