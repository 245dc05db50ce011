/**
 * TiledSpectrogramPlugin: a wavesurfer.js plugin that shows the server's spectrogram tiles
 * under the waveform. Its element lives inside wavesurfer's scrolling wrapper, so it scrolls
 * and zooms with the waveform natively; only the tiles in view are fetched (see TileLayer).
 *
 * Without spectrogram info (the endpoint is missing or failed) it shows an empty band with a
 * frequency axis, so frequency boxes can still be drawn.
 */
import WaveSurfer from 'wavesurfer.js'

import type { SpectrogramInfo, SpectrogramSettings } from '../types'
import { TileCache } from './tile-cache'
import { TileLayer, type TileView } from './tile-layer'
import { type FrequencyScale, formatHz, frequencyTicks, hzToY } from './tiles'

export type TiledSpectrogramPluginOptions = {
  /** Tile geometry, levels and choices from the info endpoint; null shows an empty band */
  info: SpectrogramInfo | null
  /** Rendering settings (ignored without info) */
  settings: SpectrogramSettings
  /** The URL of a tile */
  tileUrl: (level: number, index: number, settings: SpectrogramSettings) => string
  /** Half the sample rate, the top of the frequency axis */
  nyquistHz: number
  /** Height of the band in CSS pixels, defaults to 200 */
  height?: number
  /** Fetched tiles and requests, defaults to a new cache of 32 tiles */
  cache?: TileCache
}

export type TiledSpectrogramPluginEvents = {
  /** Before the plugin is destroyed (wavesurfer's BasePluginEvents) */
  destroy: []
  /** After every scroll, zoom or resize, with the visible window */
  view: [view: TileView]
  /** When a tile request fails (e.g. HTTP 404 while the endpoint does not exist) */
  error: [error: unknown]
}

const defaults = { height: 200 }

/** Default rAF that also works where there is none (tests) */
function nextFrame(callback: () => void): () => void {
  if (typeof requestAnimationFrame === 'function') {
    const id = requestAnimationFrame(callback)
    return () => {
      cancelAnimationFrame(id)
    }
  }
  const id = setTimeout(callback, 16)
  return () => {
    clearTimeout(id)
  }
}

export default class TiledSpectrogramPlugin extends WaveSurfer.BasePlugin<
  TiledSpectrogramPluginEvents,
  TiledSpectrogramPluginOptions
> {
  protected override options: TiledSpectrogramPluginOptions & typeof defaults
  private readonly root: HTMLElement
  private readonly tilesEl: HTMLElement
  private readonly axisEl: HTMLElement
  private readonly overlayEl: HTMLElement
  private readonly cache: TileCache
  private layer: TileLayer | null = null
  private settings: SpectrogramSettings
  private view: TileView | null = null
  private cancelFrame: (() => void) | null = null

  /** Create an instance of the plugin */
  constructor(options: TiledSpectrogramPluginOptions) {
    super(options)
    this.options = { ...defaults, ...options }
    this.settings = options.settings
    this.cache = options.cache ?? new TileCache()
    const doc = document
    this.root = doc.createElement('div')
    this.root.setAttribute('part', 'spectrogram')
    this.root.setAttribute('data-testid', 'spectrogram')
    Object.assign(this.root.style, {
      position: 'relative',
      width: '100%',
      height: `${this.options.height}px`,
      background: '#0b0b14',
      // `clip`, not `hidden`: the last tile may reach past the end, and `hidden` would stop the
      // sticky frequency axis from sticking to the scrolling view.
      overflow: 'clip',
    })
    this.tilesEl = doc.createElement('div')
    this.tilesEl.setAttribute('data-testid', 'spectrogram-canvas')
    Object.assign(this.tilesEl.style, { position: 'absolute', inset: '0', pointerEvents: 'none' })
    this.overlayEl = doc.createElement('div')
    Object.assign(this.overlayEl.style, { position: 'absolute', inset: '0', pointerEvents: 'none' })
    this.axisEl = doc.createElement('div')
    Object.assign(this.axisEl.style, {
      position: 'sticky',
      left: '0',
      width: '0',
      height: '100%',
      zIndex: '7',
      pointerEvents: 'none',
      font: '10px system-ui, sans-serif',
      color: '#fff',
    })
    this.root.append(this.tilesEl, this.overlayEl, this.axisEl)
  }

  /** Create an instance of the plugin */
  static create(options: TiledSpectrogramPluginOptions): TiledSpectrogramPlugin {
    return new TiledSpectrogramPlugin(options)
  }

  /** Called by wavesurfer, don't call manually */
  protected override onInit(): void {
    const ws = this.wavesurfer
    if (!ws) throw new Error('WaveSurfer is not initialized')
    ws.getWrapper().appendChild(this.root)
    const info = this.options.info
    if (info) {
      this.layer = new TileLayer({
        container: this.tilesEl,
        info,
        cache: this.cache,
        tileUrl: this.options.tileUrl,
        settings: this.settings,
      })
      this.subscriptions.push(
        this.layer.on('error', (error) => {
          this.emit('error', error)
        }),
      )
    }
    const schedule = () => {
      this.scheduleUpdate()
    }
    this.subscriptions.push(
      ws.on('scroll', schedule),
      ws.on('zoom', schedule),
      ws.on('redraw', schedule),
      ws.on('resize', schedule),
      ws.on('ready', schedule),
    )
    this.renderAxis()
    this.scheduleUpdate()
  }

  /** The element inside the scrolling wrapper; extra layers (frequency boxes) go in here */
  getOverlay(): HTMLElement {
    return this.overlayEl
  }

  /** The band's root element */
  getElement(): HTMLElement {
    return this.root
  }

  /** The visible window as last computed */
  getView(): TileView | null {
    return this.view
  }

  /** Height of the band in CSS pixels */
  getHeight(): number {
    return this.options.height
  }

  /** The frequency scale the band is drawn in */
  getScale(): FrequencyScale {
    return this.options.info && this.settings.scale === 'mel' ? 'mel' : 'linear'
  }

  /** Half the sample rate */
  getNyquistHz(): number {
    return this.options.info?.nyquist_hz ?? this.options.nyquistHz
  }

  /** Changes the rendering settings; tiles are fetched again */
  setSettings(settings: SpectrogramSettings): void {
    this.settings = settings
    this.layer?.setSettings(settings)
    this.renderAxis()
    if (this.view) this.emit('view', this.view)
  }

  /** Recomputes the view now (normally done on the next frame after a scroll or zoom) */
  update(): void {
    const ws = this.wavesurfer
    if (!ws) return
    const duration = ws.getDuration()
    const wrapperWidth = ws.getWrapper().clientWidth
    if (!(duration > 0) || !(wrapperWidth > 0)) return
    const pxPerS = wrapperWidth / duration
    const left = ws.getScroll()
    const view: TileView = { startS: left / pxPerS, endS: (left + ws.getWidth()) / pxPerS, pxPerS }
    this.view = view
    this.layer?.update(view)
    this.emit('view', view)
  }

  /** Unmount */
  override destroy(): void {
    this.cancelFrame?.()
    this.layer?.destroy()
    this.cache.clear()
    this.root.remove()
    super.destroy()
  }

  private scheduleUpdate() {
    if (this.cancelFrame) return
    this.cancelFrame = nextFrame(() => {
      this.cancelFrame = null
      this.update()
    })
  }

  private renderAxis() {
    const height = this.options.height
    const scale = this.getScale()
    const nyquist = this.getNyquistHz()
    const labels = frequencyTicks(scale, nyquist, height).map((hz) => {
      const label = document.createElement('div')
      label.textContent = formatHz(hz)
      Object.assign(label.style, {
        position: 'absolute',
        left: '2px',
        top: `${hzToY(hz, scale, nyquist, height) - 6}px`,
        padding: '0 2px',
        background: 'rgba(0, 0, 0, 0.45)',
        borderRadius: '2px',
        whiteSpace: 'nowrap',
      })
      return label
    })
    this.axisEl.replaceChildren(...labels)
  }
}
