/**
 * ItemPlayer: the waveform player on the item detail page.
 *
 * It waits for the item to be processed, draws the server-computed peaks and
 * streams the audio through an `<audio preload="metadata">` element, so the
 * browser fetches it with Range requests and never decodes the whole file.
 */
import WaveSurfer, { type WaveSurferOptions } from 'wavesurfer.js'
import TimelinePlugin from 'wavesurfer.js/dist/plugins/timeline.esm.js'

import { ApiError, isAbortError, type ApiClient, type AudioItem, type Peaks } from '../api/client'
import EventEmitter from '../common/event-emitter'
import { handlesSpaceNatively, isTypingTarget } from '../common/keyboard'

/** What the player is doing */
export type ItemPlayerState =
  /** Fetching the item, its peaks, or waiting for the waveform to be ready */
  | 'loading'
  /** The backend is still processing the upload; the item is polled */
  | 'pending'
  /** The waveform is drawn and the audio can be played */
  | 'ready'
  /** The backend failed to process the upload (its error text is shown) */
  | 'failed'
  /** A request, the waveform or the media element failed */
  | 'error'

export type ItemPlayerEvents = {
  /** When the state changes */
  state: [state: ItemPlayerState]
  /** When the waveform is drawn and the audio can be played */
  ready: [item: AudioItem, duration: number]
  /** When a request, the waveform or the media element fails */
  error: [error: Error]
}

/** The part of WaveSurfer the player uses; lets tests inject a fake */
export type WaveSurferLike = Pick<WaveSurfer, 'on' | 'playPause' | 'destroy'>

/** Creates the WaveSurfer instance from the options the player computed */
export type WaveSurferFactory = (options: WaveSurferOptions) => WaveSurferLike

/** The part of ApiClient the player uses */
export type ItemPlayerClient = Pick<ApiClient, 'get' | 'url'>

export type ItemPlayerOptions = {
  /** API client used to fetch the item and its peaks, and to build the audio URL */
  client: ItemPlayerClient
  /** Primary key of the audio item to play */
  itemId: number
  /** Milliseconds between item polls while processing is pending, defaults to 2000 */
  pollIntervalMs?: number
  /** Height of the waveform in pixels, defaults to 128 */
  height?: number
  /** Toggle play/pause with Space while this is the active player on the page, defaults to true */
  keyboard?: boolean
  /** Creates the WaveSurfer instance, defaults to `WaveSurfer.create`; tests inject a fake */
  createWaveSurfer?: WaveSurferFactory
}

const defaultOptions = {
  pollIntervalMs: 2000,
  height: 128,
  keyboard: true,
  createWaveSurfer: ((options) => WaveSurfer.create(options)) as WaveSurferFactory,
}

/** Width used for `target_bins` when the container has no layout yet (e.g. hidden) */
const FALLBACK_WIDTH_PX = 1000

/** The player that reacts to Space when several are mounted: the last one interacted with */
let activePlayer: ItemPlayer | null = null

function setActivePlayer(player: ItemPlayer | null) {
  activePlayer = player
}

export class ItemPlayer extends EventEmitter<ItemPlayerEvents> {
  private readonly options: ItemPlayerOptions & typeof defaultOptions
  private readonly root: HTMLElement
  private readonly toggleButton: HTMLButtonElement
  private readonly timeEl: HTMLElement
  private readonly waveformEl: HTMLElement
  private readonly statusEl: HTMLElement
  private readonly abortController = new AbortController()
  private subscriptions: Array<() => void> = []
  private state: ItemPlayerState = 'loading'
  private item: AudioItem | null = null
  private wavesurfer: WaveSurferLike | null = null
  private media: HTMLAudioElement | null = null
  private pollTimer: ReturnType<typeof setTimeout> | undefined
  private duration = 0
  private destroyed = false

  /** Mounts a player into `container`, replacing its content, and starts loading */
  constructor(container: HTMLElement, options: ItemPlayerOptions) {
    super()
    this.options = { ...defaultOptions, ...stripUndefined(options) }

    const doc = container.ownerDocument
    this.root = el(doc, 'div', 'earmark-player')
    const controls = el(doc, 'div', 'earmark-player__controls')
    this.toggleButton = el(doc, 'button', 'earmark-player__toggle')
    this.toggleButton.type = 'button'
    this.toggleButton.disabled = true
    this.toggleButton.textContent = 'Play'
    this.timeEl = el(doc, 'span', 'earmark-player__time')
    this.waveformEl = el(doc, 'div', 'earmark-player__waveform')
    this.statusEl = el(doc, 'p', 'earmark-player__status')
    this.statusEl.setAttribute('role', 'status')
    controls.append(this.toggleButton, this.timeEl)
    this.root.append(controls, this.waveformEl, this.statusEl)
    container.replaceChildren(this.root)
    this.render('Loading…')

    this.initDomEvents(doc)
    void this.load()
  }

  /** The current state */
  getState(): ItemPlayerState {
    return this.state
  }

  /** The item as last fetched, or null before the first response */
  getItem(): AudioItem | null {
    return this.item
  }

  /** Toggle playback; does nothing until the player is ready */
  playPause(): void {
    if (!this.wavesurfer || this.state !== 'ready') return
    this.wavesurfer.playPause().catch((err: unknown) => {
      // play() interrupted by pause() rejects with AbortError; that is not a failure.
      if (isAbortError(err)) return
      // Report it but stay ready, so the user can try again.
      this.fail(err, { fatal: false })
    })
  }

  /** Stop polling and streaming, remove the DOM, and release every listener */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.abortController.abort()
    clearTimeout(this.pollTimer)
    this.subscriptions.forEach((unsubscribe) => {
      unsubscribe()
    })
    this.subscriptions = []
    this.wavesurfer?.destroy()
    this.wavesurfer = null
    if (this.media) {
      // WaveSurfer leaves external media alone; stop the stream ourselves.
      this.media.pause()
      this.media.removeAttribute('src')
      this.media.load()
      this.media = null
    }
    if (activePlayer === this) setActivePlayer(null)
    this.root.remove()
    this.unAll()
  }

  private initDomEvents(doc: Document) {
    const activate = () => {
      setActivePlayer(this)
    }
    const onToggleClick = () => {
      this.playPause()
    }
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key !== ' ' && event.code !== 'Space') return
      if (event.defaultPrevented || event.repeat) return
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return
      if (isTypingTarget(event.target) || handlesSpaceNatively(event.target)) return
      if (activePlayer !== this || this.state !== 'ready') return
      event.preventDefault()
      this.playPause()
    }

    this.root.addEventListener('pointerdown', activate)
    this.root.addEventListener('focusin', activate)
    this.toggleButton.addEventListener('click', onToggleClick)
    this.subscriptions.push(
      () => {
        this.root.removeEventListener('pointerdown', activate)
      },
      () => {
        this.root.removeEventListener('focusin', activate)
      },
      () => {
        this.toggleButton.removeEventListener('click', onToggleClick)
      },
    )
    if (this.options.keyboard) {
      doc.addEventListener('keydown', onKeyDown)
      this.subscriptions.push(() => {
        doc.removeEventListener('keydown', onKeyDown)
      })
    }
  }

  private async load(): Promise<void> {
    try {
      const item = await this.waitUntilProcessed()
      if (item.state === 'failed') {
        this.setState('failed', item.error || 'Processing failed.')
        return
      }
      this.setState('loading', 'Loading waveform…')
      const peaks = await this.options.client.get<Peaks>(
        `/api/items/${this.options.itemId}/peaks/`,
        { target_bins: this.targetBins() },
        { signal: this.abortController.signal },
      )
      if (this.destroyed) return
      this.initWaveSurfer(item, peaks)
    } catch (err) {
      if (this.destroyed) return
      this.fail(err)
    }
  }

  /** Fetch the item, polling while its state is "pending" */
  private async waitUntilProcessed(): Promise<AudioItem> {
    for (;;) {
      const item = await this.options.client.get<AudioItem>(`/api/items/${this.options.itemId}/`, undefined, {
        signal: this.abortController.signal,
      })
      this.item = item
      if (item.state !== 'pending') return item
      this.setState('pending', 'Processing audio…')
      await this.sleep(this.options.pollIntervalMs)
    }
  }

  private sleep(ms: number): Promise<void> {
    const { signal } = this.abortController
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(this.pollTimer)
        reject(new DOMException('Player destroyed', 'AbortError'))
      }
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.pollTimer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
    })
  }

  private targetBins(): number {
    const width = this.waveformEl.clientWidth || this.root.clientWidth || FALLBACK_WIDTH_PX
    return Math.max(1, Math.round(width * 2))
  }

  private initWaveSurfer(item: AudioItem, peaks: Peaks) {
    const doc = this.root.ownerDocument
    const media = doc.createElement('audio')
    // Only metadata up front; playback streams with Range requests.
    media.preload = 'metadata'
    this.media = media

    this.duration = peaks.duration_s || item.duration_s || 0
    const wavesurfer = this.options.createWaveSurfer({
      container: this.waveformEl,
      height: this.options.height,
      waveColor: '#9aa5b1',
      progressColor: '#2f5fc4',
      cursorColor: '#1f2933',
      url: this.options.client.url(`/api/items/${this.options.itemId}/audio/`),
      peaks: peaks.data,
      duration: this.duration,
      media,
      plugins: [TimelinePlugin.create()],
    })
    this.wavesurfer = wavesurfer

    this.subscriptions.push(
      wavesurfer.on('ready', (duration) => {
        this.duration = duration || this.duration
        this.toggleButton.disabled = false
        this.renderTime(0)
        if (activePlayer === null) setActivePlayer(this)
        this.setState('ready', '')
        this.emit('ready', item, this.duration)
      }),
      wavesurfer.on('error', (error) => {
        this.fail(error)
      }),
      wavesurfer.on('play', () => {
        this.toggleButton.textContent = 'Pause'
      }),
      wavesurfer.on('pause', () => {
        this.toggleButton.textContent = 'Play'
      }),
      wavesurfer.on('timeupdate', (currentTime) => {
        this.renderTime(currentTime)
      }),
    )
  }

  private fail(reason: unknown, { fatal = true }: { fatal?: boolean } = {}) {
    const error = toError(reason)
    const message = (error instanceof ApiError ? error.detail : error.message) || 'Something went wrong.'
    if (fatal) {
      this.toggleButton.disabled = true
      this.setState('error', message)
    } else {
      this.render(message)
    }
    this.emit('error', error)
  }

  private setState(state: ItemPlayerState, message: string) {
    const changed = state !== this.state
    this.state = state
    this.render(message)
    if (changed) this.emit('state', state)
  }

  private render(message: string) {
    this.root.dataset.state = this.state
    this.statusEl.textContent = message
    this.statusEl.hidden = message === ''
  }

  private renderTime(currentTime: number) {
    this.timeEl.textContent = `${formatTime(currentTime)} / ${formatTime(this.duration)}`
  }
}

/** Formats seconds as m:ss (or h:mm:ss) */
export function formatTime(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = String(total % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

function toError(reason: unknown): Error {
  if (reason instanceof Error) return reason
  if (typeof reason === 'object' && reason !== null && 'message' in reason && typeof reason.message === 'string') {
    // A DOMException (possibly from another realm) already is an Error in all but prototype.
    if ('name' in reason && typeof reason.name === 'string') return reason as Error
    // HTMLMediaElement errors are MediaError objects ({code, message}), not Errors.
    return new Error(reason.message || 'Media error', { cause: reason })
  }
  return new Error(String(reason))
}

function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, className: string): HTMLElementTagNameMap[K] {
  const element = doc.createElement(tag)
  element.className = className
  return element
}

function stripUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, value]) => value !== undefined)) as T
}
