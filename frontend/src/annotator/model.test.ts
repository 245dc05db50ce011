import { describe, expect, it } from 'vitest'

import { AnnotationModel, type ModelChange, overlaps, roundTime } from './model'
import { normalizeSchema } from './schema'
import type { LabelSchema } from './types'

function schema(overrides: Partial<LabelSchema> = {}): LabelSchema {
  return normalizeSchema({
    clip_groups: [
      { name: 'scene', choice: 'single', labels: ['street', 'park'], required: true },
      { name: 'tags', choice: 'multi', labels: ['speech', 'music', 'traffic'] },
    ],
    segment_labels: [
      { name: 'dog', color: '#e6194b', hotkey: '1' },
      { name: 'bird', color: '#3cb44b', hotkey: '2' },
    ],
    segments_overlap: true,
    segment_frequency: false,
    segment_text: false,
    ...overrides,
  })
}

function model(overrides: Partial<LabelSchema> = {}, now = () => 0) {
  const m = new AnnotationModel({ schema: schema(overrides), durationS: 60, nyquistHz: 8000, now })
  const changes: ModelChange[] = []
  m.on('change', (c) => changes.push(c))
  return { m, changes }
}

const spans = (m: AnnotationModel) => m.getSegments().map((s) => [s.start_s, s.end_s, s.label])

describe('AnnotationModel segments', () => {
  it('adds, moves, resizes and deletes, reporting only the ids that changed', () => {
    const { m, changes } = model()
    const a = m.addSegment({ start_s: 5, end_s: 6, label: 'dog' })
    const b = m.addSegment({ start_s: 1, end_s: 2, label: 'bird' })
    if (!a.ok || !b.ok) throw new Error('refused')
    expect(spans(m)).toEqual([
      [1, 2, 'bird'],
      [5, 6, 'dog'],
    ])
    expect(m.moveSegment(a.value.id, 2).ok).toBe(true)
    expect(m.updateSegment(b.value.id, { end_s: 3.5 }).ok).toBe(true)
    expect(spans(m)).toEqual([
      [1, 3.5, 'bird'],
      [7, 8, 'dog'],
    ])
    expect(m.removeSegments([a.value.id, 'nope'])).toBe(1)
    expect(changes.map((c) => [c.added, c.updated, c.removed])).toEqual([
      [[a.value.id], [], []],
      [[b.value.id], [], []],
      [[], [a.value.id], []],
      [[], [b.value.id], []],
      [[], [], [a.value.id]],
    ])
    expect(changes.every((c) => c.cause === 'edit')).toBe(true)
  })

  it('rounds to the millisecond, orders the ends and keeps segments inside the recording', () => {
    const { m } = model()
    const r = m.addSegment({ start_s: 59.5, end_s: 70, label: 'dog' })
    expect(r.ok && [r.value.start_s, r.value.end_s]).toEqual([59.5, 60])
    const swapped = m.addSegment({ start_s: 3.00049, end_s: 1.2344, label: 'dog' })
    expect(swapped.ok && [swapped.value.start_s, swapped.value.end_s]).toEqual([1.234, 3])
    const moved = r.ok ? m.moveSegment(r.value.id, 5) : null
    expect(moved?.ok && [moved.value.start_s, moved.value.end_s]).toEqual([59.5, 60])
    expect(roundTime(1.23456)).toBe(1.235)
  })

  it('refuses unknown labels and segments shorter than 10 ms', () => {
    const { m, changes } = model()
    expect(m.addSegment({ start_s: 1, end_s: 2, label: 'cat' })).toMatchObject({ ok: false })
    expect(m.addSegment({ start_s: 1, end_s: 1.005, label: 'dog' })).toMatchObject({ ok: false })
    expect(m.addSegment({ start_s: 1, end_s: 1.01, label: 'dog' }).ok).toBe(true)
    expect(changes).toHaveLength(1)
  })

  it('does nothing (no change, no undo step) when an update changes nothing', () => {
    const { m, changes } = model()
    const r = m.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!r.ok) throw new Error('refused')
    expect(m.updateSegment(r.value.id, { start_s: 1.0001 }).ok).toBe(true)
    expect(changes).toHaveLength(1)
    m.undo()
    expect(m.segmentCount).toBe(0)
  })
})

describe('overlap rule', () => {
  it('treats touching ends as not overlapping', () => {
    expect(overlaps(0, 1, 1, 2)).toBe(false)
    expect(overlaps(0, 1.001, 1, 2)).toBe(true)
  })

  it('refuses overlaps with a reason when the schema forbids them', () => {
    const { m } = model({ segments_overlap: false })
    const a = m.addSegment({ start_s: 1, end_s: 3, label: 'dog' })
    if (!a.ok) throw new Error('refused')
    const refused = m.addSegment({ start_s: 2, end_s: 4, label: 'bird' })
    expect(refused.ok).toBe(false)
    expect(!refused.ok && refused.reason).toMatch(/overlap/i)
    expect(m.addSegment({ start_s: 3, end_s: 4, label: 'bird' }).ok).toBe(true)
    const b = m.getSegments()[1]
    // Moving or resizing into a neighbour is refused too, and leaves the segment as it was.
    expect(m.updateSegment(b?.id ?? '', { start_s: 2.5 }).ok).toBe(false)
    expect(m.moveSegment(a.value.id, 0.5).ok).toBe(false)
    expect(spans(m)).toEqual([
      [1, 3, 'dog'],
      [3, 4, 'bird'],
    ])
  })

  it('allows overlaps when the schema does', () => {
    const { m } = model({ segments_overlap: true })
    m.addSegment({ start_s: 1, end_s: 3, label: 'dog' })
    expect(m.addSegment({ start_s: 2, end_s: 4, label: 'bird' }).ok).toBe(true)
  })
})

describe('frequency bands and text', () => {
  it('are refused when the schema has none', () => {
    const { m } = model()
    expect(m.addSegment({ start_s: 1, end_s: 2, label: 'dog', low_hz: 100, high_hz: 200 }).ok).toBe(false)
    expect(m.addSegment({ start_s: 1, end_s: 2, label: 'dog', text: 'woof' }).ok).toBe(false)
  })

  it('need both bounds, are ordered and clamped to Nyquist, and are sent only when allowed', () => {
    const { m } = model({ segment_frequency: true, segment_text: true })
    expect(m.addSegment({ start_s: 1, end_s: 2, label: 'dog', low_hz: 100 }).ok).toBe(false)
    const r = m.addSegment({ start_s: 1, end_s: 2, label: 'dog', low_hz: 9000.4, high_hz: 300.2, text: 'far' })
    expect(r.ok && [r.value.low_hz, r.value.high_hz]).toEqual([300, 8000])
    m.addSegment({ start_s: 3, end_s: 4, label: 'bird' })
    expect(m.toPayload().segments).toEqual([
      { start_s: 1, end_s: 2, label: 'dog', low_hz: 300, high_hz: 8000, text: 'far' },
      { start_s: 3, end_s: 4, label: 'bird' },
    ])
  })
})

describe('clip labels', () => {
  it('single-choice groups hold one label; multi-choice groups any, in schema order', () => {
    const { m, changes } = model()
    expect(m.setClipLabel('scene', 'street', true)).toBe(true)
    expect(m.setClipLabel('scene', 'park', true)).toBe(true)
    expect(m.toggleClipLabel('tags', 'traffic')).toBe(true)
    expect(m.toggleClipLabel('tags', 'speech')).toBe(true)
    expect(m.getClipLabels()).toEqual({ scene: ['park'], tags: ['speech', 'traffic'] })
    m.toggleClipLabel('tags', 'speech')
    m.toggleClipLabel('tags', 'traffic')
    expect(m.toPayload().clip_labels).toEqual({ scene: ['park'] })
    expect(changes.every((c) => c.clipLabels && !c.added.length)).toBe(true)
  })

  it('refuses unknown groups and labels', () => {
    const { m } = model()
    expect(m.setClipLabel('weather', 'rain', true)).toBe(false)
    expect(m.setClipLabel('scene', 'beach', true)).toBe(false)
  })

  it('lists required groups without a label', () => {
    const { m } = model()
    expect(m.missingRequiredGroups()).toEqual(['scene'])
    m.setClipLabel('scene', 'street', true)
    expect(m.missingRequiredGroups()).toEqual([])
  })

  it('drops stored labels the schema no longer has', () => {
    const { m } = model()
    m.reset({ clip_labels: { scene: ['street', 'park'], gone: ['x'], tags: ['music', 'nope'] } })
    expect(m.getClipLabels()).toEqual({ scene: ['street'], tags: ['music'] })
  })
})

describe('undo and redo', () => {
  it('walks back and forth over every kind of edit', () => {
    const { m, changes } = model()
    const a = m.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!a.ok) throw new Error('refused')
    m.updateSegment(a.value.id, { label: 'bird' })
    m.setClipLabel('scene', 'park', true)
    m.removeSegments([a.value.id])
    expect(m.segmentCount).toBe(0)

    expect(m.undo()).toBe(true)
    expect(spans(m)).toEqual([[1, 2, 'bird']])
    expect(changes.at(-1)).toMatchObject({ cause: 'undo', added: [a.value.id] })
    m.undo()
    expect(m.getClipLabels()).toEqual({})
    m.undo()
    expect(spans(m)).toEqual([[1, 2, 'dog']])
    expect(changes.at(-1)).toMatchObject({ cause: 'undo', updated: [a.value.id] })
    m.undo()
    expect(m.segmentCount).toBe(0)
    expect(m.undo()).toBe(false)

    expect(m.redo()).toBe(true)
    expect(m.redo()).toBe(true)
    expect(spans(m)).toEqual([[1, 2, 'bird']])
    // A new edit clears what could be redone.
    m.addSegment({ start_s: 5, end_s: 6, label: 'dog' })
    expect(m.canRedo).toBe(false)
    expect(m.redo()).toBe(false)
  })

  it('folds quick edits with the same key (key repeat) into one step', () => {
    let t = 0
    const { m } = model({}, () => t)
    const a = m.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!a.ok) throw new Error('refused')
    for (let i = 0; i < 5; i++) {
      t += 100
      m.updateSegment(
        a.value.id,
        { start_s: (m.getSegment(a.value.id)?.start_s ?? 0) + 0.01 },
        { coalesceKey: 'nudge' },
      )
    }
    expect(m.getSegment(a.value.id)?.start_s).toBe(1.05)
    m.undo()
    expect(m.getSegment(a.value.id)?.start_s).toBe(1)
    // After a pause the next nudge is a step of its own.
    t += 5000
    m.updateSegment(a.value.id, { start_s: 1.2 }, { coalesceKey: 'nudge' })
    t += 100
    m.updateSegment(a.value.id, { start_s: 1.3 }, { coalesceKey: 'nudge' })
    m.undo()
    expect(m.getSegment(a.value.id)?.start_s).toBe(1)
  })

  it('keeps at most historyLimit steps', () => {
    const m = new AnnotationModel({ schema: schema(), durationS: 600, nyquistHz: 8000, historyLimit: 3 })
    for (let i = 0; i < 5; i++) m.addSegment({ start_s: i, end_s: i + 0.5, label: 'dog' })
    let undone = 0
    while (m.undo()) undone++
    expect(undone).toBe(3)
    expect(m.segmentCount).toBe(2)
  })

  it('reset() loads content without an undo step; replaceContent() is undoable', () => {
    const { m, changes } = model()
    m.reset({ segments: [{ start_s: 1, end_s: 2, label: 'dog' }], clip_labels: { scene: ['street'] } })
    expect(changes.at(-1)?.cause).toBe('reset')
    expect(m.canUndo).toBe(false)
    m.replaceContent({ segments: [{ start_s: 3, end_s: 4, label: 'bird' }], clip_labels: {} })
    expect(spans(m)).toEqual([[3, 4, 'bird']])
    m.undo()
    expect(spans(m)).toEqual([[1, 2, 'dog']])
    expect(m.getClipLabels()).toEqual({ scene: ['street'] })
  })

  it('stays fast with 500 segments', () => {
    const { m, changes } = model()
    const big = new AnnotationModel({
      schema: schema({ segments_overlap: false }),
      durationS: 3600,
      nyquistHz: 8000,
      historyLimit: 1000,
    })
    const t0 = performance.now()
    for (let i = 0; i < 500; i++) big.addSegment({ start_s: i * 2, end_s: i * 2 + 1, label: 'dog' })
    const id = big.getSegments()[250]?.id ?? ''
    for (let i = 0; i < 100; i++) big.updateSegment(id, { end_s: 501 + (i % 2) * 0.5 })
    while (big.undo());
    expect(big.segmentCount).toBe(0)
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(m.segmentCount).toBe(0)
    expect(changes).toHaveLength(0)
  })
})

describe('pre-annotations', () => {
  const predictions = [
    { start_s: 1, end_s: 2, label: 'dog', score: 0.9 },
    { start_s: 1.5, end_s: 2.5, label: 'bird', score: 0.6 },
    { start_s: 4, end_s: 5, label: 'cat', score: 0.99 },
    { start_s: 10, end_s: 11, label: 'bird', score: 0.4, low_hz: 100, high_hz: 900 },
  ]

  it('keeps only known labels; accepting turns one into a segment (with edits) in one undo step', () => {
    const { m, changes } = model()
    m.reset({}, predictions)
    expect(m.getPredictions().map((p) => p.label)).toEqual(['dog', 'bird', 'bird'])
    const first = m.getPredictions()[0]
    const r = m.acceptPrediction(first?.id ?? '', { end_s: 2.2 })
    expect(r.ok && [r.value.label, r.value.start_s, r.value.end_s]).toEqual(['dog', 1, 2.2])
    expect(changes.at(-1)).toMatchObject({ added: [r.ok ? r.value.id : ''], predictionsRemoved: [first?.id] })
    m.undo()
    expect(m.segmentCount).toBe(0)
    expect(m.getPredictions()).toHaveLength(3)
  })

  it('drops frequency bounds of suggestions when the schema has none', () => {
    const { m } = model()
    m.reset({}, predictions)
    const last = m.getPredictions().at(-1)
    const r = m.acceptPrediction(last?.id ?? '')
    expect(r.ok && [r.value.low_hz, r.value.high_hz]).toEqual([null, null])
  })

  it('rejects one, or accepts all except those that would overlap', () => {
    const { m } = model({ segments_overlap: false })
    m.reset({}, predictions)
    const last = m.getPredictions().at(-1)
    expect(m.rejectPrediction(last?.id ?? '')).toBe(true)
    expect(m.acceptAllPredictions()).toEqual({ accepted: 1, refused: 1 })
    expect(spans(m)).toEqual([[1, 2, 'dog']])
    expect(m.getPredictions().map((p) => p.label)).toEqual(['bird'])
    m.undo()
    expect(m.segmentCount).toBe(0)
    expect(m.getPredictions()).toHaveLength(2)
  })
})
