/**
 * Annotator: the labelling page. It finds the item to work on (the one in the URL, or the next
 * of my queue), waits while it is processed, shows why when it failed or when the queue is
 * empty, and runs an ItemSession on it; after submit or skip it moves on to the next item
 * without reloading the page (the address becomes /items/{id}/annotate/).
 */
import { ApiError, isAbortError, type Page, type Peaks } from '../api/client'
import EventEmitter from '../common/event-emitter'
import { h } from './dom'
import type { StorageLike } from './drafts'
import { normalizeSchema } from './schema'
import { ItemSession, type SessionClient, type SessionOutcome, type WaveSurferLike } from './session'
import type { RegionsLike } from './region-sync'
import type {
  Annotation,
  AnnotatorConfig,
  AnnotatorItem,
  LabelSchema,
  NextItem,
  Prediction,
  Project,
  SpectrogramInfo,
} from './types'
import type { WaveSurferOptions } from 'wavesurfer.js'

/** What the page shows */
export type AnnotatorState =
  /** Fetching the project, the item or its data */
  | 'loading'
  /** The item is still being processed; polled */
  | 'pending'
  /** Processing failed; the reason is shown */
  | 'failed'
  /** Nothing left for me in this project */
  | 'empty'
  /** An item is open */
  | 'ready'
  /** Something went wrong (network, permissions) */
  | 'error'

export type AnnotatorEvents = {
  /** When the state changes */
  state: [state: AnnotatorState]
  /** When an item session starts */
  session: [session: ItemSession]
}

/** History API subset used to update the address */
export type HistoryLike = Pick<History, 'replaceState'>

export type AnnotatorOptions = {
  /** Where the annotator draws itself */
  container: HTMLElement
  /** API client */
  client: SessionClient
  /** Page configuration */
  config: AnnotatorConfig
  /** Where drafts and settings are kept; defaults to localStorage */
  storage?: StorageLike | null
  /** Updates the address after moving on; defaults to window.history */
  history?: HistoryLike | null
  /** Milliseconds between polls of an item that is processing; defaults to 2000 */
  pollIntervalMs?: number
  /** Creates WaveSurfer (tests pass a fake) */
  createWaveSurfer?: (options: WaveSurferOptions) => WaveSurferLike
  /** Creates the Regions plugin (tests pass a fake) */
  createRegions?: () => RegionsLike
  /** Quiet time before autosave, ms */
  autosaveDebounceMs?: number
}

/** Bins asked for the overview: enough for a wide screen at twice the pixel density */
const OVERVIEW_BINS = 4000

export class Annotator extends EventEmitter<AnnotatorEvents> {
  private readonly options: AnnotatorOptions
  private readonly doc: Document
  private readonly root: HTMLElement
  private readonly messageEl: HTMLElement
  private readonly stage: HTMLElement
  private readonly abort = new AbortController()
  private state: AnnotatorState = 'loading'
  private project: Project | null = null
  private schema: LabelSchema | null = null
  private session: ItemSession | null = null
  private pollTimer: ReturnType<typeof setTimeout> | undefined
  private destroyed = false

  constructor(options: AnnotatorOptions) {
    super()
    this.options = options
    this.doc = options.container.ownerDocument
    this.messageEl = h(this.doc, 'div', { class: 'em-state', 'data-testid': 'annotator-state', role: 'status' })
    this.stage = h(this.doc, 'div', { class: 'em-stage' })
    this.root = h(this.doc, 'div', { class: 'em-annotator', 'data-testid': 'annotator', 'data-state': 'loading' }, [
      this.messageEl,
      this.stage,
    ])
    options.container.replaceChildren(this.root)
    this.show('loading', 'Loading…')
    void this.start()
  }

  /** What the page shows */
  getState(): AnnotatorState {
    return this.state
  }

  /** The open item session, if any */
  getSession(): ItemSession | null {
    return this.session
  }

  /** Opens the next item of my queue */
  async next(): Promise<void> {
    this.closeSession()
    this.show('loading', 'Finding the next item…')
    try {
      const next = await this.get<NextItem>(`/api/projects/${this.options.config.projectId}/next-item/`)
      if (!next.item) {
        this.setUrl(null)
        this.show('empty', 'Nothing left for you in this project. Thank you!', this.projectLink())
        return
      }
      await this.open(next.item.id, next.item)
    } catch (err) {
      this.fail(err)
    }
  }

  /** Opens one item (waiting while it is processed) */
  async open(itemId: number, known?: AnnotatorItem): Promise<void> {
    this.closeSession()
    this.setUrl(itemId)
    this.show('loading', 'Loading the item…')
    try {
      const project = await this.loadProject()
      let item = known ?? (await this.get<AnnotatorItem>(`/api/items/${itemId}/`))
      while (item.state === 'pending') {
        this.show('pending', `“${item.original_name}” is still being processed; this page updates by itself.`)
        await this.sleep(this.options.pollIntervalMs ?? 2000)
        item = await this.get<AnnotatorItem>(`/api/items/${itemId}/`)
      }
      if (item.state === 'failed') {
        const next = h(this.doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'open-next' }, [
          'Go to my next item',
        ])
        next.addEventListener('click', () => {
          void this.next()
        })
        this.show('failed', `“${item.original_name}” could not be processed: ${item.error || 'unknown error'}`, next)
        return
      }
      this.show('loading', `Loading “${item.original_name}”…`)
      const signal = this.abort.signal
      const [annotation, overview, prediction, spectrogramInfo] = await Promise.all([
        this.options.client.post<Annotation>(`/api/items/${itemId}/annotations/`, {}, { signal }),
        this.get<Peaks>(`/api/items/${itemId}/peaks/`, { target_bins: OVERVIEW_BINS }),
        this.latestPrediction(itemId),
        this.spectrogramInfo(itemId),
      ])
      if (this.destroyed) return
      const schema = this.schema ?? normalizeSchema(project.label_schema)
      const session = new ItemSession({
        container: this.stage,
        client: this.options.client,
        project,
        schema,
        item,
        annotation,
        overview,
        prediction,
        spectrogramInfo,
        username: this.options.config.username,
        ...(this.options.storage !== undefined ? { storage: this.options.storage } : {}),
        ...(this.options.createWaveSurfer ? { createWaveSurfer: this.options.createWaveSurfer } : {}),
        ...(this.options.createRegions ? { createRegions: this.options.createRegions } : {}),
        ...(this.options.autosaveDebounceMs !== undefined
          ? { autosaveDebounceMs: this.options.autosaveDebounceMs }
          : {}),
      })
      session.on('done', (outcome) => {
        this.onDone(outcome)
      })
      this.session = session
      this.show('ready', '')
      this.emit('session', session)
    } catch (err) {
      this.fail(err)
    }
  }

  /** Stops everything */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.abort.abort()
    clearTimeout(this.pollTimer)
    this.closeSession()
    this.root.remove()
    this.unAll()
  }

  private async start() {
    try {
      await this.loadProject()
      if (this.options.config.itemId !== null) await this.open(this.options.config.itemId)
      else await this.next()
    } catch (err) {
      this.fail(err)
    }
  }

  private onDone(outcome: SessionOutcome) {
    void this.next().then(() => {
      if (this.session)
        this.session.notice(
          outcome === 'submitted' ? 'Submitted. Here is the next one.' : 'Skipped. Here is the next one.',
        )
    })
  }

  private async loadProject(): Promise<Project> {
    if (this.project) return this.project
    const project = await this.get<Project>(`/api/projects/${this.options.config.projectId}/`)
    this.project = project
    this.schema = normalizeSchema(project.label_schema)
    return project
  }

  private async latestPrediction(itemId: number): Promise<Prediction | null> {
    try {
      const page = await this.get<Page<Prediction>>(`/api/items/${itemId}/predictions/`, { page_size: 1 })
      return page.results[0] ?? null
    } catch (err) {
      if (isAbortError(err)) throw err
      return null
    }
  }

  private async spectrogramInfo(itemId: number): Promise<SpectrogramInfo | null> {
    try {
      const info = await this.get<SpectrogramInfo>(`/api/items/${itemId}/spectrogram/info/`)
      return info.px_per_s_levels.length && info.tile_width_px > 0 ? info : null
    } catch (err) {
      if (isAbortError(err)) throw err
      // 404 while the endpoint does not exist (or the item has none): no spectrogram.
      return null
    }
  }

  private get<T>(path: string, query?: Record<string, string | number>): Promise<T> {
    return this.options.client.get<T>(path, query, { signal: this.abort.signal })
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.abort.signal.aborted) {
        reject(new DOMException('destroyed', 'AbortError'))
        return
      }
      this.pollTimer = setTimeout(resolve, ms)
    })
  }

  private closeSession() {
    this.session?.destroy()
    this.session = null
    this.stage.replaceChildren()
  }

  private setUrl(itemId: number | null) {
    const history = this.options.history === undefined ? this.doc.defaultView?.history : this.options.history
    if (!history) return
    const url =
      itemId === null
        ? `/projects/${this.options.config.projectId}/annotate/`
        : this.options.config.urls.itemAnnotate.replace('{id}', String(itemId))
    try {
      history.replaceState(null, '', url)
    } catch {
      // Some embedders forbid it; the page still works.
    }
  }

  private projectLink(): HTMLElement {
    return h(
      this.doc,
      'a',
      { href: this.options.config.urls.project, class: 'em-button', 'data-testid': 'back-to-project' },
      ['Back to the project'],
    )
  }

  private fail(err: unknown) {
    if (this.destroyed || isAbortError(err)) return
    const message =
      err instanceof ApiError
        ? err.status === 404
          ? 'This item or project does not exist, or you are not a member of its project.'
          : err.status === 0
            ? `The server cannot be reached (${err.detail}). Check your connection and reload.`
            : err.detail
        : err instanceof Error
          ? err.message
          : String(err)
    const retry = h(this.doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'retry' }, ['Try again'])
    retry.addEventListener('click', () => {
      void this.start()
    })
    this.show('error', message, retry)
  }

  private show(state: AnnotatorState, message: string, extra?: HTMLElement) {
    const changed = state !== this.state
    this.state = state
    this.root.dataset.state = state
    this.messageEl.hidden = message === ''
    this.messageEl.dataset.state = state
    this.messageEl.replaceChildren(
      h(
        this.doc,
        'p',
        {
          'data-testid':
            state === 'empty'
              ? 'queue-empty'
              : state === 'failed'
                ? 'item-failed'
                : state === 'pending'
                  ? 'item-pending'
                  : `state-${state}`,
        },
        [message],
      ),
      ...(extra ? [extra] : []),
    )
    if (changed) this.emit('state', state)
  }
}
