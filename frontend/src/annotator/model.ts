/**
 * AnnotationModel: the content of one annotation (clip labels and segments) plus the model's
 * pending pre-annotations, with the schema's rules and an undo/redo history.
 *
 * Segments are immutable objects keyed by a local id (server ids change on every save). Every
 * edit replaces the changed segments only and emits one `change` event naming the ids that were
 * added, updated or removed, so views update just those (a recording may carry hundreds).
 */
import EventEmitter from '../common/event-emitter'
import type { AnnotationContentPayload, ApiSegment, ClipLabels, LabelSchema, PredictedSegmentApi } from './types'

/** A segment in the model */
export type Segment = Readonly<{
  /** Local id, stable while the page is open */
  id: string
  /** Start in seconds (millisecond precision) */
  start_s: number
  /** End in seconds, greater than start_s */
  end_s: number
  /** Segment label name */
  label: string
  /** Lower frequency bound in Hz, or null */
  low_hz: number | null
  /** Upper frequency bound in Hz, or null */
  high_hz: number | null
  /** Free text ("" for none) */
  text: string
}>

/** Fields of a segment that an edit may change */
export type SegmentPatch = Partial<Omit<Segment, 'id'>>

/** What a new segment is made from */
export type SegmentInput = Pick<Segment, 'start_s' | 'end_s' | 'label'> &
  Partial<Pick<Segment, 'low_hz' | 'high_hz' | 'text'>>

/** A model's predicted segment, shown as a pre-annotation until accepted or rejected */
export type PredictedSegment = Readonly<{
  /** Local id */
  id: string
  /** Start in seconds */
  start_s: number
  /** End in seconds */
  end_s: number
  /** Segment label name */
  label: string
  /** The model's confidence in [0, 1] */
  score: number
  /** Lower frequency bound in Hz, or null */
  low_hz: number | null
  /** Upper frequency bound in Hz, or null */
  high_hz: number | null
}>

/** What one `change` event reports */
export type ModelChange = {
  /** Ids of segments that were added */
  added: string[]
  /** Ids of segments whose fields changed */
  updated: string[]
  /** Ids of segments that were removed */
  removed: string[]
  /** Whether the clip labels changed */
  clipLabels: boolean
  /** Ids of pre-annotations that appeared */
  predictionsAdded: string[]
  /** Ids of pre-annotations that went away (accepted or rejected) */
  predictionsRemoved: string[]
  /** What caused the change; "reset" replaces everything without an undo step */
  cause: 'edit' | 'undo' | 'redo' | 'reset'
}

export type AnnotationModelEvents = {
  /** After every change of the content */
  change: [change: ModelChange]
}

/** The outcome of an edit: the new value, or why the edit was refused */
export type EditResult<T> = { ok: true; value: T } | { ok: false; reason: string }

export type AnnotationModelOptions = {
  /** The project's label schema, normalised */
  schema: LabelSchema
  /** Duration of the recording in seconds; segments are kept inside [0, duration] */
  durationS: number
  /** Half the sample rate; frequency bounds are kept inside [0, nyquist] */
  nyquistHz: number
  /** How many undo steps are kept, defaults to 200 */
  historyLimit?: number
  /** The shortest segment in seconds, defaults to 0.01 */
  minSegmentS?: number
  /** Edits with the same coalesce key within this many ms share one undo step, defaults to 1000 */
  coalesceMs?: number
  /** Clock for coalescing, defaults to Date.now */
  now?: () => number
}

type Snapshot = {
  readonly segments: ReadonlyMap<string, Segment>
  readonly clipLabels: Readonly<ClipLabels>
  readonly predictions: ReadonlyMap<string, PredictedSegment>
}

type HistoryEntry = { snapshot: Snapshot; coalesceKey: string | null; at: number }

/** Options of an edit */
export type EditOptions = {
  /** Edits with the same key in quick succession (e.g. key repeats) share one undo step */
  coalesceKey?: string
}

const EMPTY_CHANGE = (): Omit<ModelChange, 'cause'> => ({
  added: [],
  updated: [],
  removed: [],
  clipLabels: false,
  predictionsAdded: [],
  predictionsRemoved: [],
})

/** Rounds seconds to the millisecond */
export function roundTime(seconds: number): number {
  return Math.round(seconds * 1000) / 1000
}

/** True when [aStart, aEnd) and [bStart, bEnd) share some time; touching ends do not overlap */
export function overlaps(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  return aStart < bEnd && bStart < aEnd
}

export class AnnotationModel extends EventEmitter<AnnotationModelEvents> {
  readonly schema: LabelSchema
  private readonly durationS: number
  private readonly nyquistHz: number
  private readonly historyLimit: number
  private readonly minSegmentS: number
  private readonly coalesceMs: number
  private readonly now: () => number
  private readonly labelNames: Set<string>
  private state: Snapshot = { segments: new Map(), clipLabels: {}, predictions: new Map() }
  private undoStack: HistoryEntry[] = []
  private redoStack: Snapshot[] = []
  private sortedCache: Segment[] | null = null
  private sortedPredictionsCache: PredictedSegment[] | null = null
  private nextId = 1

  constructor(options: AnnotationModelOptions) {
    super()
    this.schema = options.schema
    this.durationS = options.durationS
    this.nyquistHz = options.nyquistHz
    this.historyLimit = options.historyLimit ?? 200
    this.minSegmentS = options.minSegmentS ?? 0.01
    this.coalesceMs = options.coalesceMs ?? 1000
    this.now = options.now ?? (() => Date.now())
    this.labelNames = new Set(this.schema.segment_labels.map((l) => l.name))
  }

  // ---- reading -------------------------------------------------------------------------

  /** The segment with this id, if any */
  getSegment(id: string): Segment | undefined {
    return this.state.segments.get(id)
  }

  /** The pre-annotation with this id, if any */
  getPrediction(id: string): PredictedSegment | undefined {
    return this.state.predictions.get(id)
  }

  /** Number of segments */
  get segmentCount(): number {
    return this.state.segments.size
  }

  /** Segments ordered by start, then end (cached until the next change) */
  getSegments(): readonly Segment[] {
    this.sortedCache ??= [...this.state.segments.values()].sort(compareSpans)
    return this.sortedCache
  }

  /** Pending pre-annotations ordered by start */
  getPredictions(): readonly PredictedSegment[] {
    this.sortedPredictionsCache ??= [...this.state.predictions.values()].sort(compareSpans)
    return this.sortedPredictionsCache
  }

  /** The chosen labels of every group */
  getClipLabels(): Readonly<ClipLabels> {
    return this.state.clipLabels
  }

  /** Whether `label` is chosen in `group` */
  hasClipLabel(group: string, label: string): boolean {
    return this.state.clipLabels[group]?.includes(label) ?? false
  }

  /** Names of required clip groups without a label */
  missingRequiredGroups(): string[] {
    return this.schema.clip_groups
      .filter((g) => g.required && !(this.state.clipLabels[g.name]?.length ?? 0))
      .map((g) => g.name)
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0
  }

  /** The content as the API takes it: segments ordered by start, fields the schema allows */
  toPayload(): AnnotationContentPayload {
    const clip_labels: ClipLabels = {}
    for (const group of this.schema.clip_groups) {
      const labels = this.state.clipLabels[group.name]
      if (labels?.length) clip_labels[group.name] = [...labels]
    }
    const segments = this.getSegments().map((s) => {
      const out: ApiSegment = { start_s: s.start_s, end_s: s.end_s, label: s.label }
      if (this.schema.segment_frequency && s.low_hz !== null && s.high_hz !== null) {
        out.low_hz = s.low_hz
        out.high_hz = s.high_hz
      }
      if (this.schema.segment_text && s.text) out.text = s.text
      return out
    })
    return { clip_labels, segments }
  }

  // ---- whole-content changes -------------------------------------------------------------

  /** Replaces everything without an undo step and clears the history (a freshly opened item) */
  reset(content: Partial<AnnotationContentPayload>, predictions: readonly PredictedSegmentApi[] = []): void {
    const previous = this.state
    this.state = {
      segments: this.segmentsFrom(content.segments ?? []),
      clipLabels: this.cleanClipLabels(content.clip_labels ?? {}),
      predictions: this.predictionsFrom(predictions),
    }
    this.undoStack = []
    this.redoStack = []
    this.emitDiff(previous, this.state, 'reset')
  }

  /** Replaces clip labels and segments as one undoable edit (e.g. "load theirs"); keeps predictions */
  replaceContent(content: Partial<AnnotationContentPayload>): void {
    this.commit(
      {
        segments: this.segmentsFrom(content.segments ?? []),
        clipLabels: this.cleanClipLabels(content.clip_labels ?? {}),
        predictions: this.state.predictions,
      },
      null,
    )
  }

  // ---- segments ----------------------------------------------------------------------------

  /** Adds a segment; refused when it is invalid or overlaps where the schema forbids that */
  addSegment(input: SegmentInput): EditResult<Segment> {
    const candidate = this.normalise({ id: this.newId('s'), low_hz: null, high_hz: null, text: '', ...input })
    const problem = this.check(candidate, null)
    if (problem) return { ok: false, reason: problem }
    const segments = new Map(this.state.segments)
    segments.set(candidate.id, candidate)
    this.commit({ ...this.state, segments }, null, { added: [candidate.id] })
    return { ok: true, value: candidate }
  }

  /** Changes some fields of a segment; refused like `addSegment` */
  updateSegment(id: string, patch: SegmentPatch, options: EditOptions = {}): EditResult<Segment> {
    const current = this.state.segments.get(id)
    if (!current) return { ok: false, reason: 'That segment no longer exists.' }
    const candidate = this.normalise({ ...current, ...patch, id })
    const problem = this.check(candidate, id)
    if (problem) return { ok: false, reason: problem }
    if (sameSegment(current, candidate)) return { ok: true, value: current }
    const segments = new Map(this.state.segments)
    segments.set(id, candidate)
    this.commit({ ...this.state, segments }, options.coalesceKey ?? null, { updated: [id] })
    return { ok: true, value: candidate }
  }

  /** Moves a segment by `deltaS`, keeping its length, clamped to the recording */
  moveSegment(id: string, deltaS: number, options: EditOptions = {}): EditResult<Segment> {
    const current = this.state.segments.get(id)
    if (!current) return { ok: false, reason: 'That segment no longer exists.' }
    const length = current.end_s - current.start_s
    const start = Math.min(Math.max(0, current.start_s + deltaS), Math.max(0, this.durationS - length))
    return this.updateSegment(id, { start_s: start, end_s: start + length }, options)
  }

  /** Removes segments; unknown ids are ignored. Returns how many were removed */
  removeSegments(ids: readonly string[]): number {
    const segments = new Map(this.state.segments)
    const removed = ids.filter((id) => segments.delete(id))
    if (removed.length) this.commit({ ...this.state, segments }, null, { removed })
    return removed.length
  }

  // ---- clip labels --------------------------------------------------------------------------

  /**
   * Chooses or clears a clip label. In a single-choice group choosing replaces the previous
   * label; returns false for an unknown group or label.
   */
  setClipLabel(group: string, label: string, chosen: boolean): boolean {
    const schemaGroup = this.schema.clip_groups.find((g) => g.name === group)
    if (!schemaGroup?.labels.includes(label)) return false
    const current = this.state.clipLabels[group] ?? []
    let next: string[]
    if (schemaGroup.choice === 'single') {
      next = chosen ? [label] : current.filter((l) => l !== label)
    } else {
      const set = new Set(current)
      if (chosen) set.add(label)
      else set.delete(label)
      next = schemaGroup.labels.filter((l) => set.has(l))
    }
    if (next.length === current.length && next.every((l, i) => l === current[i])) return true
    const clipLabels: ClipLabels = Object.fromEntries(
      Object.entries(this.state.clipLabels).filter(([name]) => name !== group),
    )
    if (next.length) clipLabels[group] = next
    this.commit({ ...this.state, clipLabels }, null, { clipLabels: true })
    return true
  }

  /** Flips a clip label */
  toggleClipLabel(group: string, label: string): boolean {
    return this.setClipLabel(group, label, !this.hasClipLabel(group, label))
  }

  // ---- pre-annotations ---------------------------------------------------------------------

  /** Turns a pre-annotation into a segment (with `patch` applied: accepting an edit) */
  acceptPrediction(id: string, patch: SegmentPatch = {}): EditResult<Segment> {
    const prediction = this.state.predictions.get(id)
    if (!prediction) return { ok: false, reason: 'That suggestion is no longer there.' }
    const candidate = this.normalise({
      id: this.newId('s'),
      start_s: prediction.start_s,
      end_s: prediction.end_s,
      label: prediction.label,
      low_hz: this.schema.segment_frequency ? prediction.low_hz : null,
      high_hz: this.schema.segment_frequency ? prediction.high_hz : null,
      text: '',
      ...patch,
    })
    const problem = this.check(candidate, null)
    if (problem) return { ok: false, reason: problem }
    const segments = new Map(this.state.segments)
    segments.set(candidate.id, candidate)
    const predictions = new Map(this.state.predictions)
    predictions.delete(id)
    this.commit({ ...this.state, segments, predictions }, null, { added: [candidate.id], predictionsRemoved: [id] })
    return { ok: true, value: candidate }
  }

  /** Drops a pre-annotation */
  rejectPrediction(id: string): boolean {
    if (!this.state.predictions.has(id)) return false
    const predictions = new Map(this.state.predictions)
    predictions.delete(id)
    this.commit({ ...this.state, predictions }, null, { predictionsRemoved: [id] })
    return true
  }

  /**
   * Accepts every pending pre-annotation in one undo step. Those that would overlap where the
   * schema forbids it (or are otherwise invalid) stay pending. Returns the counts.
   */
  acceptAllPredictions(): { accepted: number; refused: number } {
    const segments = new Map(this.state.segments)
    const predictions = new Map(this.state.predictions)
    const added: string[] = []
    const removedPredictions: string[] = []
    let refused = 0
    for (const prediction of this.getPredictions()) {
      const candidate = this.normalise({
        id: this.newId('s'),
        start_s: prediction.start_s,
        end_s: prediction.end_s,
        label: prediction.label,
        low_hz: this.schema.segment_frequency ? prediction.low_hz : null,
        high_hz: this.schema.segment_frequency ? prediction.high_hz : null,
        text: '',
      })
      if (this.check(candidate, null, segments)) {
        refused++
        continue
      }
      segments.set(candidate.id, candidate)
      predictions.delete(prediction.id)
      added.push(candidate.id)
      removedPredictions.push(prediction.id)
    }
    if (added.length) {
      this.commit({ ...this.state, segments, predictions }, null, { added, predictionsRemoved: removedPredictions })
    }
    return { accepted: added.length, refused }
  }

  // ---- history -----------------------------------------------------------------------------

  /** Undoes the last edit; returns false when there is none */
  undo(): boolean {
    const entry = this.undoStack.pop()
    if (!entry) return false
    const previous = this.state
    this.redoStack.push(previous)
    this.state = entry.snapshot
    this.emitDiff(previous, this.state, 'undo')
    return true
  }

  /** Redoes the last undone edit; returns false when there is none */
  redo(): boolean {
    const snapshot = this.redoStack.pop()
    if (!snapshot) return false
    const previous = this.state
    this.undoStack.push({ snapshot: previous, coalesceKey: null, at: this.now() })
    this.state = snapshot
    this.emitDiff(previous, this.state, 'redo')
    return true
  }

  // ---- internals -----------------------------------------------------------------------------

  private newId(prefix: string): string {
    return `${prefix}${this.nextId++}`
  }

  private segmentsFrom(segments: readonly ApiSegment[]): Map<string, Segment> {
    const out = new Map<string, Segment>()
    for (const s of segments) {
      const segment = this.normalise({
        id: this.newId('s'),
        start_s: s.start_s,
        end_s: s.end_s,
        label: s.label,
        low_hz: s.low_hz ?? null,
        high_hz: s.high_hz ?? null,
        text: s.text ?? '',
      })
      // Stored content was valid when saved; keep it even if the schema changed since.
      out.set(segment.id, segment)
    }
    return out
  }

  private predictionsFrom(predictions: readonly PredictedSegmentApi[]): Map<string, PredictedSegment> {
    const out = new Map<string, PredictedSegment>()
    for (const p of predictions) {
      if (!this.labelNames.has(p.label) || !(p.end_s > p.start_s)) continue
      const id = this.newId('p')
      out.set(id, {
        id,
        start_s: roundTime(Math.max(0, p.start_s)),
        end_s: roundTime(Math.min(this.durationS, p.end_s)),
        label: p.label,
        score: p.score,
        low_hz: p.low_hz ?? null,
        high_hz: p.high_hz ?? null,
      })
    }
    return out
  }

  private cleanClipLabels(raw: Readonly<ClipLabels>): ClipLabels {
    const out: ClipLabels = {}
    for (const group of this.schema.clip_groups) {
      const chosen = raw[group.name]
      if (!Array.isArray(chosen)) continue
      const labels = group.labels.filter((l) => chosen.includes(l))
      const kept = group.choice === 'single' ? labels.slice(0, 1) : labels
      if (kept.length) out[group.name] = kept
    }
    return out
  }

  /** Rounds to the millisecond, orders the ends and clamps to the recording */
  private normalise(segment: Segment): Segment {
    let start = roundTime(Math.max(0, Math.min(segment.start_s, segment.end_s)))
    let end = roundTime(Math.min(this.durationS, Math.max(segment.start_s, segment.end_s)))
    if (end > this.durationS) end = this.durationS
    if (start < 0) start = 0
    let low = segment.low_hz
    let high = segment.high_hz
    if (low !== null && high !== null) {
      ;[low, high] = [Math.min(low, high), Math.max(low, high)]
      low = Math.round(Math.max(0, low))
      high = Math.round(Math.min(this.nyquistHz, high))
    }
    return { ...segment, start_s: start, end_s: end, low_hz: low, high_hz: high }
  }

  /** Why `candidate` may not be stored, or null when it may */
  private check(candidate: Segment, ignoreId: string | null, segments = this.state.segments): string | null {
    if (!this.labelNames.has(candidate.label)) return `Unknown segment label “${candidate.label}”.`
    if (candidate.end_s - candidate.start_s < this.minSegmentS - 1e-9) {
      return `A segment must be at least ${Math.round(this.minSegmentS * 1000)} ms long.`
    }
    const hasLow = candidate.low_hz !== null
    const hasHigh = candidate.high_hz !== null
    if (hasLow || hasHigh) {
      if (!this.schema.segment_frequency) return 'This project’s segments have no frequency range.'
      if (hasLow !== hasHigh) return 'Give both frequency bounds, or neither.'
      if ((candidate.high_hz ?? 0) - (candidate.low_hz ?? 0) < 1) return 'The frequency range is empty.'
    }
    if (candidate.text && !this.schema.segment_text) return 'This project’s segments have no text.'
    if (!this.schema.segments_overlap) {
      for (const other of segments.values()) {
        if (other.id === ignoreId || other.id === candidate.id) continue
        if (overlaps(candidate.start_s, candidate.end_s, other.start_s, other.end_s)) {
          return `Segments may not overlap in this project (it would overlap “${other.label}” at ${other.start_s.toFixed(3)}–${other.end_s.toFixed(3)} s).`
        }
      }
    }
    return null
  }

  private commit(next: Snapshot, coalesceKey: string | null, known?: Partial<Omit<ModelChange, 'cause'>>): void {
    const previous = this.state
    const now = this.now()
    const last = this.undoStack.at(-1)
    const coalesce =
      coalesceKey !== null &&
      last?.coalesceKey === coalesceKey &&
      now - last.at <= this.coalesceMs &&
      !this.redoStack.length
    if (coalesce) {
      last.at = now
    } else {
      this.undoStack.push({ snapshot: previous, coalesceKey, at: now })
      if (this.undoStack.length > this.historyLimit) this.undoStack.shift()
    }
    this.redoStack = []
    this.state = next
    if (known) {
      this.invalidate(known)
      this.emit('change', { ...EMPTY_CHANGE(), ...known, cause: 'edit' })
    } else {
      this.emitDiff(previous, next, 'edit')
    }
  }

  private invalidate(change: Partial<Omit<ModelChange, 'cause'>>) {
    if (change.added?.length || change.updated?.length || change.removed?.length) this.sortedCache = null
    if (change.predictionsAdded?.length || change.predictionsRemoved?.length) this.sortedPredictionsCache = null
  }

  /** Emits the difference between two snapshots (segments compared by identity: they are immutable) */
  private emitDiff(previous: Snapshot, next: Snapshot, cause: ModelChange['cause']) {
    const change: ModelChange = { ...EMPTY_CHANGE(), cause }
    if (previous.segments !== next.segments) {
      for (const [id, segment] of next.segments) {
        const before = previous.segments.get(id)
        if (!before) change.added.push(id)
        else if (before !== segment) change.updated.push(id)
      }
      for (const id of previous.segments.keys()) if (!next.segments.has(id)) change.removed.push(id)
    }
    change.clipLabels = previous.clipLabels !== next.clipLabels
    if (previous.predictions !== next.predictions) {
      for (const id of next.predictions.keys()) if (!previous.predictions.has(id)) change.predictionsAdded.push(id)
      for (const id of previous.predictions.keys()) if (!next.predictions.has(id)) change.predictionsRemoved.push(id)
    }
    this.invalidate(change)
    // A reset always reports, so views can clear themselves.
    const empty =
      !change.added.length &&
      !change.updated.length &&
      !change.removed.length &&
      !change.clipLabels &&
      !change.predictionsAdded.length &&
      !change.predictionsRemoved.length
    if (!empty || cause === 'reset') this.emit('change', change)
  }
}

function compareSpans(
  a: { start_s: number; end_s: number; id: string },
  b: { start_s: number; end_s: number; id: string },
) {
  return a.start_s - b.start_s || a.end_s - b.end_s || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function sameSegment(a: Segment, b: Segment): boolean {
  return (
    a.start_s === b.start_s &&
    a.end_s === b.end_s &&
    a.label === b.label &&
    a.low_hz === b.low_hz &&
    a.high_hz === b.high_hz &&
    a.text === b.text
  )
}
