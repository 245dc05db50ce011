/**
 * Autosave: saves the annotation about a second after the last change, one request at a time,
 * always with the version the server last gave back.
 *
 *   saved ──change──> pending ──1 s quiet──> saving ──ok──> saved (or pending if changed since)
 *                                              ├─ network / 5xx ──> offline ──backoff──> saving
 *                                              ├─ 409 stale_version ──> conflict (stops until resolved)
 *                                              └─ other error ──> error (tries again on the next change)
 */
import { ApiError } from '../api/client'
import EventEmitter from '../common/event-emitter'

/** Where saving stands */
export type SaveState =
  /** Everything is on the server */
  | 'saved'
  /** There are changes; a save is scheduled */
  | 'pending'
  /** A save request is in flight */
  | 'saving'
  /** The server could not be reached; retrying with backoff */
  | 'offline'
  /** The server refused the content (e.g. validation); the next change tries again */
  | 'error'
  /** The annotation changed elsewhere (409 stale_version); waits for the user to choose */
  | 'conflict'

export type AutosaveEvents = {
  /** When the state changes; `error` is the failure behind offline/error/conflict */
  state: [state: SaveState, error: ApiError | null]
  /** After a save that left nothing unsaved, with the new version */
  saved: [version: number]
  /** When the server answers 409 stale_version */
  conflict: [error: ApiError]
}

export type AutosaveOptions = {
  /** Sends the current content with `version`; resolves with the version the server returns */
  save: (version: number) => Promise<number>
  /** The version of the annotation as loaded */
  version: number
  /** Quiet time after the last change before saving, in ms; defaults to 1000 */
  debounceMs?: number
  /** First retry delay when offline, in ms; doubles each time; defaults to 1000 */
  retryMs?: number
  /** Longest retry delay, in ms; defaults to 30000 */
  maxRetryMs?: number
}

/** Whether an error means "try again later" (no connection, server trouble) */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true
  return error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500
}

/** Whether an error is the optimistic-concurrency conflict */
export function isStaleVersion(error: unknown): error is ApiError {
  return error instanceof ApiError && error.status === 409 && error.code === 'stale_version'
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  const detail = error instanceof Error ? error.message : String(error)
  return new ApiError({ status: 0, code: 'network_error', detail }, { cause: error })
}

export class Autosave extends EventEmitter<AutosaveEvents> {
  private readonly saveFn: (version: number) => Promise<number>
  private readonly debounceMs: number
  private readonly retryMs: number
  private readonly maxRetryMs: number
  private version: number
  private state: SaveState = 'saved'
  private lastError: ApiError | null = null
  /** Incremented on every change */
  private seq = 0
  /** The change counter the server has */
  private savedSeq = 0
  private inflight: Promise<void> | null = null
  private debounceTimer: ReturnType<typeof setTimeout> | undefined
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private retryDelay: number
  private destroyed = false

  constructor(options: AutosaveOptions) {
    super()
    this.saveFn = options.save
    this.version = options.version
    this.debounceMs = options.debounceMs ?? 1000
    this.retryMs = options.retryMs ?? 1000
    this.maxRetryMs = options.maxRetryMs ?? 30_000
    this.retryDelay = this.retryMs
  }

  /** The current state */
  getState(): SaveState {
    return this.state
  }

  /** The failure behind the offline, error or conflict state */
  getError(): ApiError | null {
    return this.lastError
  }

  /** The version the next save sends */
  getVersion(): number {
    return this.version
  }

  /** Whether there are changes the server does not have */
  isDirty(): boolean {
    return this.seq !== this.savedSeq
  }

  /** Records a change and schedules a save */
  markDirty(): void {
    if (this.destroyed) return
    this.seq++
    if (this.state === 'conflict' || this.state === 'offline' || this.inflight) return
    this.setState('pending', null)
    this.schedule(this.debounceMs)
  }

  /**
   * Saves now and waits until the server has everything. Rejects with the error when the
   * save fails (offline, refused, conflict). With `force`, saves even without changes (to
   * send the latest lead time).
   */
  async flush({ force = false }: { force?: boolean } = {}): Promise<void> {
    if (force && !this.isDirty()) this.seq++
    for (;;) {
      if (this.destroyed) return
      if (this.inflight) {
        await this.inflight
        continue
      }
      if (this.state === 'conflict') throw this.lastError ?? new Error('conflict')
      if (!this.isDirty()) return
      await this.run()
      // Read through a call: the state changed while awaiting.
      const state = this.getState()
      if (state === 'offline' || state === 'error' || state === 'conflict') {
        throw this.lastError ?? new Error(state)
      }
    }
  }

  /** Retries at once (e.g. when the browser comes back online) */
  retryNow(): void {
    if (this.destroyed || this.inflight || !this.isDirty()) return
    if (this.state === 'offline' || this.state === 'error') void this.run()
  }

  /**
   * Puts autosave in the conflict state without asking the server: used when a local draft
   * turns out to be older than the server's version. Nothing is saved until resolved.
   */
  markConflict(): void {
    if (this.destroyed) return
    this.clearTimers()
    this.seq++
    this.lastError = new ApiError({
      status: 409,
      code: 'stale_version',
      detail: 'the annotation changed on the server after this browser kept a draft',
    })
    this.setState('conflict', this.lastError)
    this.emit('conflict', this.lastError)
  }

  /** "Keep mine": continue from the server's current version and save my content over it */
  resolveConflict(currentVersion: number): void {
    if (this.destroyed) return
    this.version = currentVersion
    this.lastError = null
    if (!this.isDirty()) this.seq++
    this.setState('pending', null)
    void this.run()
  }

  /** "Load theirs": the content now matches the server at `version`; nothing is unsaved */
  adopt(version: number): void {
    this.clearTimers()
    this.version = version
    this.savedSeq = this.seq
    this.lastError = null
    this.retryDelay = this.retryMs
    this.setState('saved', null)
  }

  /** Stops every timer; in-flight results are ignored */
  destroy(): void {
    this.destroyed = true
    this.clearTimers()
    this.unAll()
  }

  /** Read through a call: it may change while a save is awaited */
  private isDestroyed(): boolean {
    return this.destroyed
  }

  private schedule(delay: number) {
    clearTimeout(this.debounceTimer)
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined
      void this.run()
    }, delay)
  }

  private clearTimers() {
    clearTimeout(this.debounceTimer)
    clearTimeout(this.retryTimer)
    this.debounceTimer = undefined
    this.retryTimer = undefined
  }

  private run(): Promise<void> {
    if (this.inflight) return this.inflight
    this.clearTimers()
    const promise = this.saveOnce().finally(() => {
      if (this.inflight === promise) this.inflight = null
    })
    this.inflight = promise
    return promise
  }

  private async saveOnce(): Promise<void> {
    if (this.destroyed) return
    const sentSeq = this.seq
    this.setState('saving', null)
    let newVersion: number
    try {
      newVersion = await this.saveFn(this.version)
    } catch (err) {
      if (this.isDestroyed()) return
      this.onFailure(toApiError(err))
      return
    }
    if (this.isDestroyed()) return
    this.version = newVersion
    this.savedSeq = sentSeq
    this.retryDelay = this.retryMs
    this.lastError = null
    if (this.isDirty()) {
      this.setState('pending', null)
      this.schedule(this.debounceMs)
    } else {
      this.setState('saved', null)
      this.emit('saved', newVersion)
    }
  }

  private onFailure(error: ApiError) {
    this.lastError = error
    if (isStaleVersion(error)) {
      this.setState('conflict', error)
      this.emit('conflict', error)
    } else if (isTransient(error)) {
      this.setState('offline', error)
      const delay = this.retryDelay
      this.retryDelay = Math.min(this.retryDelay * 2, this.maxRetryMs)
      clearTimeout(this.retryTimer)
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        void this.run()
      }, delay)
    } else {
      this.setState('error', error)
    }
  }

  private setState(state: SaveState, error: ApiError | null) {
    if (state === this.state && error === null) return
    this.state = state
    this.emit('state', state, error)
  }
}
