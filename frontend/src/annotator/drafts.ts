/**
 * Local drafts: the unsaved content of an item kept in localStorage on every change, so a tab
 * that is killed (or loses the network) restores the work on reload and then saves it.
 */
import type { AnnotationContentPayload } from './types'

/** What is kept per item and user */
export type LocalDraft = {
  /** The annotation the edits belong to */
  annotationId: number
  /** The server version the edits started from */
  baseVersion: number
  /** The content */
  content: AnnotationContentPayload
  /** Active seconds on the item so far */
  leadTimeS: number
  /** When it was written (ms since the epoch) */
  savedAt: number
}

/** The part of Storage used here (tests pass a Map-backed fake) */
export type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

const PREFIX = 'earmark:draft:v1'

/** What to do with a local draft found when an item opens */
export type DraftDecision =
  /** No draft, or it equals the server content: discard it */
  | { kind: 'none' }
  /** The server has not changed since: apply the draft and save it */
  | { kind: 'restore'; draft: LocalDraft }
  /** The server changed since the draft was made: ask (load theirs / keep mine) */
  | { kind: 'conflict'; draft: LocalDraft }

export class DraftStore {
  private readonly storage: StorageLike | null

  /** `storage` defaults to window.localStorage; null (or a throwing one) disables drafts */
  constructor(
    private readonly username: string,
    storage?: StorageLike | null,
  ) {
    this.storage = storage === undefined ? defaultStorage() : storage
  }

  /** The storage key of an item's draft */
  key(itemId: number): string {
    return `${PREFIX}:${encodeURIComponent(this.username)}:${itemId}`
  }

  /** Reads an item's draft; null when there is none or it is unreadable */
  load(itemId: number): LocalDraft | null {
    if (!this.storage) return null
    let raw: string | null
    try {
      raw = this.storage.getItem(this.key(itemId))
    } catch {
      return null
    }
    if (!raw) return null
    try {
      const draft = JSON.parse(raw) as Partial<LocalDraft>
      if (
        typeof draft.annotationId !== 'number' ||
        typeof draft.baseVersion !== 'number' ||
        typeof draft.content !== 'object' ||
        !Array.isArray(draft.content.segments)
      ) {
        return null
      }
      return {
        annotationId: draft.annotationId,
        baseVersion: draft.baseVersion,
        content: {
          clip_labels: (draft.content as Partial<AnnotationContentPayload>).clip_labels ?? {},
          segments: draft.content.segments,
        },
        leadTimeS: typeof draft.leadTimeS === 'number' ? draft.leadTimeS : 0,
        savedAt: typeof draft.savedAt === 'number' ? draft.savedAt : 0,
      }
    } catch {
      return null
    }
  }

  /** Writes an item's draft; returns false when storage is unavailable or full */
  save(itemId: number, draft: LocalDraft): boolean {
    if (!this.storage) return false
    try {
      this.storage.setItem(this.key(itemId), JSON.stringify(draft))
      return true
    } catch {
      return false
    }
  }

  /** Forgets an item's draft */
  clear(itemId: number): void {
    try {
      this.storage?.removeItem(this.key(itemId))
    } catch {
      // Storage unavailable: nothing to clear.
    }
  }
}

/** Decides what a draft found on opening an item means, given the server's annotation */
export function decideDraft(
  draft: LocalDraft | null,
  server: { id: number; version: number; content: AnnotationContentPayload },
): DraftDecision {
  if (!draft) return { kind: 'none' }
  if (sameContent(draft.content, server.content)) return { kind: 'none' }
  if (draft.annotationId === server.id && draft.baseVersion === server.version) return { kind: 'restore', draft }
  return { kind: 'conflict', draft }
}

/** Whether two contents are the same labels and segments (order of segments by start) */
export function sameContent(a: AnnotationContentPayload, b: AnnotationContentPayload): boolean {
  return canonical(a) === canonical(b)
}

function canonical(content: AnnotationContentPayload): string {
  const clip = Object.keys(content.clip_labels)
    .filter((k) => (content.clip_labels[k]?.length ?? 0) > 0)
    .sort()
    .map((k) => [k, [...(content.clip_labels[k] ?? [])].sort()])
  const segments = content.segments
    .map((s) => [
      Math.round(s.start_s * 1000),
      Math.round(s.end_s * 1000),
      s.label,
      s.low_hz ?? null,
      s.high_hz ?? null,
      s.text ?? '',
    ])
    .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))
  return JSON.stringify([clip, segments])
}

function defaultStorage(): StorageLike | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null
  } catch {
    return null
  }
}
