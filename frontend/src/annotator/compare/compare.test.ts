// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WaveSurferOptions } from 'wavesurfer.js'

import { ApiError } from '../../api/client'
import { fakeClient, FakeWaveSurfer, ITEM, OVERVIEW } from '../test-fakes'
import { CompareView } from './compare'
import { laneColor, readCompare, reviewPayload } from './data'

const SCHEMA = {
  clip_groups: [{ name: 'scene', choice: 'single' as const, labels: ['street', 'park'] }],
  segment_labels: [
    { name: 'dog', color: '#e6194b', hotkey: '1' },
    { name: 'bird', color: '#3cb44b', hotkey: '2' },
  ],
}

/** As the server sends them (AnnotationOutputSerializer) */
function annotation(id: number, username: string, segments: Array<[number, number, string]>, extra = {}) {
  return {
    id,
    item: 7,
    project: 1,
    annotator: id * 10,
    annotator_username: username,
    state: 'submitted',
    clip_labels: { scene: [id === 1 ? 'street' : 'park'] },
    segments: segments.map(([start_s, end_s, label], i) => ({
      id: id * 100 + i,
      start_s,
      end_s,
      label,
      low_hz: null,
      high_hz: null,
      text: '',
    })),
    lead_time_s: 12,
    version: 3,
    review_state: 'pending',
    is_reference: false,
    reviews: [],
    ...extra,
  }
}

function setup(compare?: () => unknown) {
  const annotations = [
    annotation(1, 'alice', [
      [1, 3, 'dog'],
      [10, 12, 'bird'],
    ]),
    annotation(2, 'bob', [
      [1.2, 3.1, 'dog'],
      [20, 21, 'bird'],
      [25, 26, 'dog'],
    ]),
  ]
  const reviews: Array<{ id: number; body: unknown }> = []
  const { client, calls } = fakeClient({
    'GET /api/projects/1/': { id: 1, name: 'Birds', instructions: '', label_schema: SCHEMA, my_role: 'reviewer' },
    'GET /api/items/7/compare/': compare ?? (() => ({ item: ITEM, annotations })),
    'GET /api/items/7/peaks/': OVERVIEW,
    'POST /api/annotations/1/review/': (body: unknown) => {
      reviews.push({ id: 1, body })
      const verdict = (body as { verdict: string }).verdict
      const a = annotations[0]
      if (a) {
        a.review_state = verdict
        ;(a.reviews as unknown[]).push({
          id: 5,
          verdict,
          comment: (body as { comment?: string }).comment ?? '',
          reviewer_username: 'rita',
          created_at: '2026-11-21T08:00:00Z',
        })
      }
      return { review: { id: 5, verdict }, annotation: a, correction: null }
    },
    'POST /api/annotations/2/review/': (body: unknown) => {
      reviews.push({ id: 2, body })
      return { review: { id: 6 }, annotation: annotations[1], correction: null }
    },
  })
  const container = document.createElement('div')
  document.body.append(container)
  const fakes: FakeWaveSurfer[] = []
  const view = new CompareView({
    container,
    client,
    projectId: 1,
    itemId: 7,
    projectUrl: '/projects/1/',
    storage: null,
    createWaveSurfer: (options: WaveSurferOptions) => {
      const ws = new FakeWaveSurfer(options)
      // As wavesurfer does, the scrolling wrapper goes into the container.
      ;(options.container as HTMLElement).append(ws.wrapper)
      fakes.push(ws)
      return ws
    },
  })
  const all = (id: string) => Array.from(container.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`))
  const one = (id: string, root: ParentNode = container) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`)
  const card = (annotationId: number) =>
    container.querySelector<HTMLElement>(`[data-testid="compare-card"][data-annotation-id="${annotationId}"]`)
  const flush = () => vi.advanceTimersByTimeAsync(0)
  return { view, container, calls, reviews, fakes, all, one, card, flush, annotations }
}

describe('CompareView', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    document.body.replaceChildren()
  })

  it('shows one lane per annotator on the shared waveform, their segments in the lane colour', async () => {
    const { view, all, fakes, flush, card, one } = setup()
    await flush()
    expect(view.getState()).toBe('ready')
    const ws = fakes[0]
    expect(ws?.options.peaks).toEqual(OVERVIEW.data)
    // The audio streams on demand: preload none, nothing fetched before play.
    expect(ws?.options.media?.preload).toBe('none')
    const lanes = all('compare-lane')
    expect(lanes.map((l) => l.dataset.lane)).toEqual(['1', '2'])
    // Lanes live inside the waveform's scrolling wrapper, so they zoom and scroll with it.
    expect(ws?.wrapper.contains(lanes[0] ?? null)).toBe(true)
    expect(all('compare-lane-name').map((n) => n.textContent)).toEqual(['alice', 'bob'])
    const boxes = (lane: HTMLElement) =>
      Array.from(lane.querySelectorAll<HTMLElement>('[data-testid="compare-segment"]'))
    const [alice, bob] = lanes.map(boxes)
    expect(alice?.map((b) => b.dataset.label)).toEqual(['dog', 'bird'])
    expect(bob).toHaveLength(3)
    // Placed in percent of the 30 s: 1..3 s is 3.33 % from the left, 6.67 % wide.
    expect(parseFloat(alice?.[0]?.style.left ?? '')).toBeCloseTo(100 / 30, 3)
    expect(parseFloat(alice?.[0]?.style.width ?? '')).toBeCloseTo(200 / 30, 3)
    expect(alice?.[0]?.style.background).not.toBe(bob?.[0]?.style.background)
    // Cards: clip labels per annotator, review actions on pending submitted work.
    expect(one('compare-clip-labels', card(1) ?? document)?.textContent).toContain('street')
    expect(one('compare-clip-labels', card(2) ?? document)?.textContent).toContain('park')
    expect(one('review-accept', card(1) ?? document)).not.toBeNull()
  })

  it('accepts an annotation and shows its new state', async () => {
    const { flush, card, one, reviews, calls } = setup()
    await flush()
    one('review-accept', card(1) ?? document)?.click()
    await flush()
    expect(reviews).toEqual([{ id: 1, body: { verdict: 'accepted' } }])
    // Fetched again: accepted, with the review listed, and no more actions on it.
    expect(calls.filter((c) => c.path === '/api/items/7/compare/')).toHaveLength(2)
    expect(card(1)?.dataset.reviewState).toBe('accepted')
    expect(one('compare-review', card(1) ?? document)?.textContent).toContain('accepted by rita')
    expect(one('review-accept', card(1) ?? document)).toBeNull()
    expect(one('review-accept', card(2) ?? document)).not.toBeNull()
    expect(one('notice')?.textContent).toMatch(/accepted/i)
  })

  it('rejects only with a comment, which is sent', async () => {
    const { flush, card, one, reviews } = setup()
    await flush()
    const bob = card(2) ?? document
    one('review-reject', bob)?.click()
    one('review-reject-send', bob)?.click()
    await flush()
    expect(reviews).toHaveLength(0)
    expect(one('notice')?.textContent).toMatch(/say why/i)
    const comment = one('review-comment', bob) as HTMLTextAreaElement
    comment.value = 'The dog at 25 s is a fox.'
    one('review-reject-send', bob)?.click()
    await flush()
    expect(reviews).toEqual([{ id: 2, body: { verdict: 'rejected', comment: 'The dog at 25 s is a fox.' } }])
  })

  it('corrects: starts from one annotation, takes segments from the other lanes, saves the truth', async () => {
    const { flush, card, one, all, reviews } = setup()
    await flush()
    one('review-correct', card(1) ?? document)?.click()
    const truth = () => all('compare-lane').find((l) => l.dataset.lane === 'truth')
    const labels = () =>
      Array.from(truth()?.querySelectorAll<HTMLElement>('[data-testid="compare-segment"]') ?? []).map(
        (b) => `${b.dataset.label}@${b.title.split(' ')[1] ?? ''}`,
      )
    expect(labels()).toEqual(['dog@1.000–3.000', 'bird@10.000–12.000'])
    // Take bob's bird at 20 s; drop alice's bird at 10 s from the truth lane.
    const bobLane = all('compare-lane').find((l) => l.dataset.lane === '2')
    bobLane?.querySelectorAll<HTMLElement>('[data-testid="compare-segment"]')[1]?.click()
    truth()?.querySelectorAll<HTMLElement>('[data-testid="compare-segment"]')[1]?.click()
    expect(labels()).toEqual(['dog@1.000–3.000', 'bird@20.000–21.000'])
    expect(one('correction-summary')?.textContent).toMatch(/2 segments/)
    const park = all('correction-clip-label').find((i) => (i as HTMLInputElement).value === 'park') as HTMLInputElement
    park.checked = true
    park.dispatchEvent(new Event('change'))
    one('correction-save')?.click()
    await flush()
    expect(reviews).toEqual([
      {
        id: 1,
        body: {
          verdict: 'corrected',
          clip_labels: { scene: ['park'] },
          segments: [
            { start_s: 1, end_s: 3, label: 'dog' },
            { start_s: 20, end_s: 21, label: 'bird' },
          ],
        },
      },
    ])
    expect(all('compare-lane').some((l) => l.dataset.lane === 'truth')).toBe(false)
  })

  it('tells an annotator that comparing is for reviewers, and shows server errors on review', async () => {
    const denied = setup(() => new ApiError({ status: 403, code: 'permission_denied', detail: 'reviewers only' }))
    await denied.flush()
    expect(denied.view.getState()).toBe('error')
    expect(denied.one('compare-error')?.textContent).toMatch(/only reviewers and managers/i)
  })

  it('destroy() removes the view, the waveform and its listeners', async () => {
    const { view, flush, fakes, container } = setup()
    await flush()
    view.destroy()
    expect(fakes[0]?.destroy).toHaveBeenCalled()
    expect(container.querySelector('[data-testid="compare"]')).toBeNull()
  })
})

describe('compare data', () => {
  it('reads the compare answer, the reviewed truth last, names from usernames', () => {
    const data = readCompare({
      item: ITEM,
      annotations: [
        { id: 9, annotator_username: 'rita', is_reference: true, state: 'submitted', segments: [], clip_labels: {} },
        {
          id: 3,
          annotator: { id: 4, username: 'carl' },
          state: 'submitted',
          clip_labels: { scene: 'park' },
          segments: [
            { start_s: 5, end_s: 6, label: 'dog' },
            { start_s: 1, end_s: 2, label: 'bird' },
            { start_s: 'x', end_s: 2, label: 'bad' },
          ],
          reviews: [
            { verdict: 'rejected', comment: 'no', reviewer_username: 'rita', created_at: '2026-01-02' },
            { verdict: 'nonsense' },
          ],
        },
        'not an annotation',
      ],
    })
    expect(data.annotations.map((a) => [a.id, a.annotator, a.isReference])).toEqual([
      [3, 'carl', false],
      [9, 'rita', true],
    ])
    const carl = data.annotations[0]
    expect(carl?.segments.map((s) => s.label)).toEqual(['bird', 'dog'])
    expect(carl?.clipLabels).toEqual({ scene: ['park'] })
    expect(carl?.reviews).toHaveLength(1)
    expect(carl?.reviewState).toBe('rejected')
    expect(() => readCompare({ annotations: [] })).toThrow(/no item/)
  })

  it('builds review requests; a rejection needs a comment', () => {
    expect(reviewPayload('accepted', '  ')).toEqual({ verdict: 'accepted' })
    expect(reviewPayload('accepted', ' fine ')).toEqual({ verdict: 'accepted', comment: 'fine' })
    expect(() => reviewPayload('rejected', ' ')).toThrow(/why/)
    expect(() => reviewPayload('corrected', '')).toThrow(/content/)
    expect(
      reviewPayload('corrected', '', {
        clip_labels: {},
        segments: [{ id: 4, start_s: 1, end_s: 2, label: 'dog', low_hz: 100, high_hz: null, text: '' }],
      }),
    ).toEqual({
      verdict: 'corrected',
      clip_labels: {},
      segments: [{ start_s: 1, end_s: 2, label: 'dog', low_hz: 100 }],
    })
  })

  it('gives neighbouring lanes clearly different colours', () => {
    const hues = Array.from({ length: 8 }, (_, i) => Number(/hsl\((\d+)/.exec(laneColor(i))?.[1]))
    for (let i = 1; i < hues.length; i++) {
      const d = Math.abs((hues[i] ?? 0) - (hues[i - 1] ?? 0))
      expect(Math.min(d, 360 - d)).toBeGreaterThan(60)
    }
    expect(laneColor(3, true)).toBe(laneColor(0, true))
  })
})
