/**
 * LeaseHeartbeat: keeps the annotator's hold on the open item (its lease on the labelling
 * queue) alive with `POST /api/items/{id}/lease/` every minute, and at once when the tab is
 * shown again after being hidden (timers are throttled in hidden tabs, so the lease may be close
 * to expiring by then).
 *
 * It never blocks work: a failed renewal only changes its state, which the session shows as a
 * notice. Transient failures (no connection, server trouble) are retried sooner; 404/409 mean the
 * server holds no lease for me on this item (it expired and went to someone else, or the item
 * was opened without one), which renewing cannot fix, so the heartbeat stops until the tab is
 * shown again.
 *
 *   idle ──start──> renewing ──ok──> held ──60 s / tab shown──> renewing
 *                              ├─ network / 5xx ──> offline ──15 s / tab shown──> renewing
 *                              ├─ 404 / 409 ──> lost (stops; tab shown tries again)
 *                              └─ other error (401, 403, 400) ──> failed (next beat tries again)
 */
import { ApiError } from '../api/client'
import EventEmitter from '../common/event-emitter'
import { isTransient } from './autosave'

/** Where the hold on the item stands */
export type LeaseState =
  /** Not started yet, or stopped */
  | 'idle'
  /** A renewal is in flight */
  | 'renewing'
  /** The server renewed the lease; `expiresAt` says until when */
  | 'held'
  /** The last renewal did not reach the server; retrying sooner */
  | 'offline'
  /** The server holds no lease for me on this item (404 / 409) */
  | 'lost'
  /** The server refused the renewal for another reason */
  | 'failed'

/** The lease endpoint's answer */
export type LeaseRenewal = {
  /** ISO 8601 time at which the lease expires unless renewed */
  expires_at: string
}

export type LeaseHeartbeatEvents = {
  /** When the state changes; `error` is the failure behind offline/lost/failed */
  state: [state: LeaseState, error: ApiError | null]
  /** After every successful renewal */
  renewed: [renewal: LeaseRenewal]
}

export type LeaseHeartbeatOptions = {
  /** Renews the lease (POST /api/items/{id}/lease/); rejects with an ApiError on failure */
  renew: () => Promise<LeaseRenewal>
  /** Milliseconds between renewals; defaults to 60000 */
  intervalMs?: number
  /** Milliseconds before retrying after a transient failure; defaults to 15000 */
  retryMs?: number
  /** Where `visibilitychange` is listened to; null ignores visibility; defaults to none */
  doc?: Document | null
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  const detail = error instanceof Error ? error.message : String(error)
  return new ApiError({ status: 0, code: 'network_error', detail }, { cause: error })
}

/** Whether a renewal failure means "you hold no lease on this item" */
export function isLeaseGone(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 409)
}

export class LeaseHeartbeat extends EventEmitter<LeaseHeartbeatEvents> {
  private readonly renewFn: () => Promise<LeaseRenewal>
  private readonly intervalMs: number
  private readonly retryMs: number
  private readonly doc: Document | null
  private state: LeaseState = 'idle'
  private expiresAt: string | null = null
  private lastError: ApiError | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private inflight: Promise<void> | null = null
  private started = false
  private stopped = false
  private readonly onVisibility = () => {
    if (this.doc?.visibilityState === 'visible') void this.beat()
  }

  constructor(options: LeaseHeartbeatOptions) {
    super()
    this.renewFn = options.renew
    this.intervalMs = options.intervalMs ?? 60_000
    this.retryMs = options.retryMs ?? 15_000
    this.doc = options.doc ?? null
  }

  /** Where the hold stands */
  getState(): LeaseState {
    return this.state
  }

  /** When the lease expires, as the server last said (ISO 8601); null before the first renewal */
  getExpiresAt(): string | null {
    return this.expiresAt
  }

  /** The failure behind offline/lost/failed */
  getError(): ApiError | null {
    return this.lastError
  }

  /** Renews now and then every interval; listens for the tab being shown again */
  start(): void {
    if (this.started || this.stopped) return
    this.started = true
    this.doc?.addEventListener('visibilitychange', this.onVisibility)
    void this.beat()
  }

  /** Renews now (once at a time); resolves when the renewal has settled */
  beat(): Promise<void> {
    if (this.stopped || !this.started) return Promise.resolve()
    if (this.inflight) return this.inflight
    clearTimeout(this.timer)
    this.setState('renewing', this.lastError)
    const run = this.renewFn().then(
      (renewal) => {
        if (this.stopped) return
        this.expiresAt = renewal.expires_at
        this.lastError = null
        this.setState('held', null)
        this.emit('renewed', renewal)
        this.schedule(this.intervalMs)
      },
      (err: unknown) => {
        if (this.stopped) return
        const error = toApiError(err)
        this.lastError = error
        if (isLeaseGone(error)) {
          // Renewing again cannot bring it back; a tab shown again tries once more.
          this.setState('lost', error)
        } else if (isTransient(error)) {
          this.setState('offline', error)
          this.schedule(Math.min(this.retryMs, this.intervalMs))
        } else {
          this.setState('failed', error)
          this.schedule(this.intervalMs)
        }
      },
    )
    const settled = run.finally(() => {
      if (this.inflight === settled) this.inflight = null
    })
    this.inflight = settled
    return settled
  }

  /** Stops renewing and listening (the item is done or the page is leaving) */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.timer)
    this.doc?.removeEventListener('visibilitychange', this.onVisibility)
    this.state = 'idle'
    this.unAll()
  }

  private schedule(ms: number) {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      void this.beat()
    }, ms)
  }

  private setState(state: LeaseState, error: ApiError | null) {
    if (state === this.state) return
    this.state = state
    this.emit('state', state, error)
  }
}
