/**
 * The compare view's data: `GET /api/items/{id}/compare/` (every annotation of one item, for
 * reviewers and managers) read into one shape the view draws, and the review requests it sends
 * (`POST /api/annotations/{id}/review/`).
 *
 * The reader takes the server's `annotator_username` / `reviewer_username` and is lenient
 * about other namings (`annotator` as a string or an object with `username`), so small changes
 * on the server side do not break the page.
 */
import type { AnnotatorItem, ApiSegment, ClipLabels } from '../types'

/** A review verdict */
export type Verdict = 'accepted' | 'rejected' | 'corrected'

/** One review of an annotation (the history is kept) */
export type CompareReview = {
  /** Primary key, when the server sends it */
  id: number | null
  /** The verdict */
  verdict: Verdict
  /** Why (required for rejections) */
  comment: string
  /** Who reviewed */
  reviewer: string
  /** When (ISO 8601), when the server sends it */
  createdAt: string | null
}

/** One annotation of the item: one lane */
export type CompareAnnotation = {
  /** Primary key */
  id: number
  /** Who made it */
  annotator: string
  /** draft / submitted / skipped */
  state: string
  /** The latest verdict (pending when not reviewed) */
  reviewState: string
  /** Whether this is a reviewer's correction (the item's reviewed truth) */
  isReference: boolean
  /** Clip labels by group */
  clipLabels: ClipLabels
  /** Segments in time order */
  segments: ApiSegment[]
  /** Reviews, oldest first */
  reviews: CompareReview[]
}

/** The whole compare answer */
export type CompareData = {
  /** The item */
  item: AnnotatorItem
  /** Its annotations; reviewers' corrections last */
  annotations: CompareAnnotation[]
}

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function nameOf(value: unknown, fallback: string): string {
  if (typeof value === 'string' && value) return value
  if (isObject(value)) {
    for (const key of ['username', 'name', 'display_name']) {
      const v = value[key]
      if (typeof v === 'string' && v) return v
    }
    if (typeof value.id === 'number') return `user ${value.id}`
  }
  if (typeof value === 'number') return `user ${value}`
  return fallback
}

function readReview(raw: unknown): CompareReview | null {
  if (!isObject(raw)) return null
  const verdict = raw.verdict
  if (verdict !== 'accepted' && verdict !== 'rejected' && verdict !== 'corrected') return null
  return {
    id: typeof raw.id === 'number' ? raw.id : null,
    verdict,
    comment: typeof raw.comment === 'string' ? raw.comment : '',
    reviewer: nameOf(raw.reviewer_username ?? raw.reviewer_name ?? raw.reviewer, 'a reviewer'),
    createdAt: typeof raw.created_at === 'string' ? raw.created_at : null,
  }
}

function readSegments(raw: unknown): ApiSegment[] {
  if (!Array.isArray(raw)) return []
  const out: ApiSegment[] = []
  for (const s of raw) {
    if (!isObject(s)) continue
    const start = Number(s.start_s)
    const end = Number(s.end_s)
    if (!Number.isFinite(start) || !Number.isFinite(end) || typeof s.label !== 'string') continue
    out.push({
      ...(typeof s.id === 'number' ? { id: s.id } : {}),
      start_s: start,
      end_s: end,
      label: s.label,
      low_hz: typeof s.low_hz === 'number' ? s.low_hz : null,
      high_hz: typeof s.high_hz === 'number' ? s.high_hz : null,
      text: typeof s.text === 'string' ? s.text : '',
    })
  }
  return out.sort((a, b) => a.start_s - b.start_s || a.end_s - b.end_s)
}

function readClipLabels(raw: unknown): ClipLabels {
  if (!isObject(raw)) return {}
  const out: ClipLabels = {}
  for (const [group, labels] of Object.entries(raw)) {
    if (Array.isArray(labels)) out[group] = labels.filter((l): l is string => typeof l === 'string')
    else if (typeof labels === 'string') out[group] = [labels]
  }
  return out
}

/** One annotation of the compare answer; null when it is not one */
export function readAnnotation(raw: unknown, index: number): CompareAnnotation | null {
  if (!isObject(raw) || typeof raw.id !== 'number') return null
  const reviews = Array.isArray(raw.reviews)
    ? raw.reviews.map(readReview).filter((r): r is CompareReview => r !== null)
    : []
  reviews.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''))
  const latest = reviews.at(-1)?.verdict
  return {
    id: raw.id,
    annotator: nameOf(raw.annotator_username ?? raw.annotator_name ?? raw.annotator, `annotator ${index + 1}`),
    state: typeof raw.state === 'string' ? raw.state : 'submitted',
    reviewState: typeof raw.review_state === 'string' ? raw.review_state : (latest ?? 'pending'),
    isReference: raw.is_reference === true,
    clipLabels: readClipLabels(raw.clip_labels),
    segments: readSegments(raw.segments),
    reviews,
  }
}

/** The compare answer; throws when it has no item */
export function readCompare(raw: unknown): CompareData {
  if (!isObject(raw) || !isObject(raw.item) || typeof raw.item.id !== 'number')
    throw new Error('the compare answer has no item')
  const list = Array.isArray(raw.annotations) ? raw.annotations : Array.isArray(raw.results) ? raw.results : []
  const annotations = list
    .map((a, i) => readAnnotation(a, i))
    .filter((a): a is CompareAnnotation => a !== null)
    // People's work first (in the server's order), the reviewed truth last.
    .sort((a, b) => Number(a.isReference) - Number(b.isReference))
  return { item: raw.item as unknown as AnnotatorItem, annotations }
}

/**
 * A distinct colour per lane: hues spread by the golden angle, so neighbours differ and any
 * number of annotators gets colours; the reviewed truth is always dark grey.
 */
export function laneColor(index: number, isReference = false): string {
  if (isReference) return 'hsl(210, 10%, 30%)'
  const hue = Math.round((index * 137.508 + 20) % 360)
  return `hsl(${hue}, 70%, 45%)`
}

/** The body of a review request */
export type ReviewPayload =
  | { verdict: 'accepted'; comment?: string }
  | { verdict: 'rejected'; comment: string }
  | { verdict: 'corrected'; comment?: string; clip_labels: ClipLabels; segments: ApiSegment[] }

/** The review request for a verdict; throws when a rejection has no comment */
export function reviewPayload(
  verdict: Verdict,
  comment: string,
  correction?: { clip_labels: ClipLabels; segments: ApiSegment[] },
): ReviewPayload {
  const text = comment.trim()
  if (verdict === 'rejected') {
    if (!text) throw new Error('Say why it is rejected: the comment goes back to the annotator.')
    return { verdict, comment: text }
  }
  if (verdict === 'corrected') {
    if (!correction) throw new Error('A correction needs the corrected content.')
    return {
      verdict,
      ...(text ? { comment: text } : {}),
      clip_labels: correction.clip_labels,
      segments: correction.segments.map((s) => ({
        start_s: s.start_s,
        end_s: s.end_s,
        label: s.label,
        ...(s.low_hz !== null && s.low_hz !== undefined ? { low_hz: s.low_hz } : {}),
        ...(s.high_hz !== null && s.high_hz !== undefined ? { high_hz: s.high_hz } : {}),
        ...(s.text ? { text: s.text } : {}),
      })),
    }
  }
  return text ? { verdict, comment: text } : { verdict }
}
