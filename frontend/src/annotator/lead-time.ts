/**
 * LeadTimer: the active time someone spends on an item (sent as `lead_time_s`).
 *
 * Time counts while the tab is visible and the person is active: a key, a click or playing
 * audio counts as activity, and after `idleMs` without any the count stops until the next one.
 */

export type LeadTimerOptions = {
  /** Seconds already recorded for the item (from the server or a local draft) */
  initialS?: number
  /** Milliseconds without activity after which time stops counting; defaults to 5 minutes */
  idleMs?: number
  /** Monotonic clock in ms; defaults to performance.now */
  now?: () => number
  /** Whether counting starts at once (the tab is visible); defaults to true */
  running?: boolean
}

export class LeadTimer {
  private readonly idleMs: number
  private readonly now: () => number
  private accumulatedMs: number
  private runningSince: number | null
  private lastActivity: number
  private detach: (() => void) | null = null

  constructor(options: LeadTimerOptions = {}) {
    this.idleMs = options.idleMs ?? 5 * 60_000
    this.now = options.now ?? (() => performance.now())
    this.accumulatedMs = Math.max(0, (options.initialS ?? 0) * 1000)
    const t = this.now()
    this.runningSince = options.running === false ? null : t
    this.lastActivity = t
  }

  /** Active seconds so far, rounded to 0.1 s */
  elapsedS(): number {
    return Math.round((this.accumulatedMs + this.currentRunMs(this.now())) / 100) / 10
  }

  /** Whether time is counting (visible and started; idleness is judged lazily) */
  isRunning(): boolean {
    return this.runningSince !== null
  }

  /** Records activity; after an idle spell counting resumes from now */
  activity(): void {
    const t = this.now()
    if (this.runningSince !== null && t - this.lastActivity > this.idleMs) {
      this.accumulatedMs += this.currentRunMs(t)
      this.runningSince = t
    }
    this.lastActivity = t
  }

  /** Stops counting (tab hidden, item done) */
  pause(): void {
    if (this.runningSince === null) return
    this.accumulatedMs += this.currentRunMs(this.now())
    this.runningSince = null
  }

  /** Starts counting again (tab visible); counts as activity */
  resume(): void {
    if (this.runningSince !== null) return
    const t = this.now()
    this.runningSince = t
    this.lastActivity = t
  }

  /** Pauses while `doc` is hidden and resumes when it is shown; returns the unsubscribe function */
  attach(doc: Document): () => void {
    this.detach?.()
    const onVisibility = () => {
      if (doc.visibilityState === 'hidden') this.pause()
      else this.resume()
    }
    doc.addEventListener('visibilitychange', onVisibility)
    if (doc.visibilityState === 'hidden') this.pause()
    const detach = () => {
      doc.removeEventListener('visibilitychange', onVisibility)
      if (this.detach === detach) this.detach = null
    }
    this.detach = detach
    return detach
  }

  /** Stops counting and listening */
  destroy(): void {
    this.pause()
    this.detach?.()
  }

  /** Milliseconds of the current run that count, up to `t` */
  private currentRunMs(t: number): number {
    if (this.runningSince === null) return 0
    const until = Math.min(t, this.lastActivity + this.idleMs)
    return Math.max(0, until - this.runningSince)
  }
}
