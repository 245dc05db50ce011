import { describe, expect, it } from 'vitest'

import { decideDraft, DraftStore, type LocalDraft, sameContent, type StorageLike } from './drafts'

function memoryStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      data.set(k, v)
    },
    removeItem: (k) => {
      data.delete(k)
    },
  }
}

const content = {
  clip_labels: { scene: ['park'] },
  segments: [
    { start_s: 1, end_s: 2, label: 'dog' },
    { start_s: 0.5, end_s: 0.9, label: 'bird', text: '' },
  ],
}

function draft(overrides: Partial<LocalDraft> = {}): LocalDraft {
  return { annotationId: 12, baseVersion: 3, content, leadTimeS: 42.5, savedAt: 1000, ...overrides }
}

describe('DraftStore', () => {
  it('keeps a draft per user and item, and restores it', () => {
    const storage = memoryStorage()
    const alice = new DraftStore('alice', storage)
    const bob = new DraftStore('bob', storage)
    expect(alice.save(7, draft())).toBe(true)
    expect(alice.load(7)).toEqual(draft())
    expect(bob.load(7)).toBeNull()
    expect(alice.load(8)).toBeNull()
    expect(alice.key(7)).toBe('earmark:draft:v1:alice:7')
    alice.clear(7)
    expect(alice.load(7)).toBeNull()
  })

  it('escapes odd user names in the key', () => {
    expect(new DraftStore('a:b c', memoryStorage()).key(1)).toBe('earmark:draft:v1:a%3Ab%20c:1')
  })

  it('ignores unreadable or foreign data', () => {
    const storage = memoryStorage()
    const store = new DraftStore('alice', storage)
    storage.setItem(store.key(1), '{not json')
    storage.setItem(store.key(2), JSON.stringify({ annotationId: 'x' }))
    storage.setItem(store.key(3), JSON.stringify({ annotationId: 1, baseVersion: 1, content: { segments: [] } }))
    expect(store.load(1)).toBeNull()
    expect(store.load(2)).toBeNull()
    expect(store.load(3)).toEqual({
      annotationId: 1,
      baseVersion: 1,
      content: { clip_labels: {}, segments: [] },
      leadTimeS: 0,
      savedAt: 0,
    })
  })

  it('survives storage that is full or disabled', () => {
    const throwing: StorageLike = {
      getItem: () => {
        throw new Error('SecurityError')
      },
      setItem: () => {
        throw new Error('QuotaExceededError')
      },
      removeItem: () => {
        throw new Error('SecurityError')
      },
    }
    const store = new DraftStore('alice', throwing)
    expect(store.save(1, draft())).toBe(false)
    expect(store.load(1)).toBeNull()
    expect(() => {
      store.clear(1)
    }).not.toThrow()
    const none = new DraftStore('alice', null)
    expect(none.save(1, draft())).toBe(false)
    expect(none.load(1)).toBeNull()
  })
})

describe('decideDraft (opening an item)', () => {
  const server = { id: 12, version: 3, content: { clip_labels: {}, segments: [] } }

  it('restores a draft made on the version the server still has', () => {
    expect(decideDraft(draft(), server)).toEqual({ kind: 'restore', draft: draft() })
  })

  it('asks when the server moved on since the draft was made', () => {
    expect(decideDraft(draft(), { ...server, version: 5 })).toEqual({ kind: 'conflict', draft: draft() })
    expect(decideDraft(draft(), { ...server, id: 99 })).toEqual({ kind: 'conflict', draft: draft() })
  })

  it('drops a draft that equals what the server has (its save got through)', () => {
    expect(decideDraft(draft(), { ...server, version: 4, content })).toEqual({ kind: 'none' })
    expect(decideDraft(null, server)).toEqual({ kind: 'none' })
  })
})

describe('sameContent', () => {
  it('ignores segment order, label order, empty groups and sub-millisecond noise', () => {
    expect(
      sameContent(content, {
        clip_labels: { scene: ['park'], tags: [] },
        segments: [
          { start_s: 0.5000001, end_s: 0.9, label: 'bird' },
          { start_s: 1, end_s: 2, label: 'dog', low_hz: null },
        ],
      }),
    ).toBe(true)
  })

  it('sees real differences', () => {
    expect(sameContent(content, { ...content, clip_labels: { scene: ['street'] } })).toBe(false)
    expect(sameContent(content, { ...content, segments: content.segments.slice(1) })).toBe(false)
    expect(
      sameContent(content, {
        ...content,
        segments: [
          content.segments[0] ?? { start_s: 0, end_s: 1, label: 'x' },
          { start_s: 0.5, end_s: 0.9, label: 'bird', text: 'hi' },
        ],
      }),
    ).toBe(false)
  })
})
