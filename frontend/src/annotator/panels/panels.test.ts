// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'

import { AnnotationModel } from '../model'
import { normalizeSchema } from '../schema'
import { ClipLabelsPanel, suggestedLabels } from './clip-labels'
import { SegmentList } from './segment-list'

const SCHEMA = normalizeSchema({
  clip_groups: [
    { name: 'scene', choice: 'single', labels: ['street', 'park'], required: true },
    { name: 'tags', choice: 'multi', labels: ['speech', 'music'] },
    { name: 'mood', choice: 'single', labels: ['calm', 'busy'] },
  ],
  segment_labels: [
    { name: 'dog', color: '#e6194b', hotkey: '1' },
    { name: 'bird', color: '#3cb44b', hotkey: '2' },
  ],
  segment_text: true,
})

function model() {
  return new AnnotationModel({ schema: SCHEMA, durationS: 60, nyquistHz: 8000 })
}

afterEach(() => {
  document.body.replaceChildren()
})

describe('ClipLabelsPanel', () => {
  function setup() {
    const m = model()
    const container = document.createElement('div')
    document.body.append(container)
    const onExit = vi.fn()
    const panel = new ClipLabelsPanel({
      container,
      groups: SCHEMA.clip_groups,
      model: m,
      suggestions: { scene: { street: 0.2, park: 0.7 }, tags: { speech: 0.9, music: 0.1 } },
      onExit,
    })
    const input = (label: string) =>
      container.querySelector<HTMLInputElement>(`[data-testid="clip-label-input"][data-label="${label}"]`)
    return { m, container, panel, input, onExit }
  }

  it('uses radio buttons for single choice and checkboxes for multi choice', () => {
    const { input } = setup()
    expect(input('street')?.type).toBe('radio')
    expect(input('speech')?.type).toBe('checkbox')
    expect(input('music')?.dataset.number).toBe('4')
  })

  it('sends choices to the model and shows the model’s (undo)', () => {
    const { m, input } = setup()
    const park = input('park')
    if (!park) throw new Error('no input')
    park.click()
    expect(m.getClipLabels()).toEqual({ scene: ['park'] })
    input('speech')?.click()
    input('music')?.click()
    expect(m.getClipLabels()).toEqual({ scene: ['park'], tags: ['speech', 'music'] })
    m.undo()
    m.undo()
  })

  it('picks options by number (Alt+digit); a required single choice stays chosen', () => {
    const { m, panel, input } = setup()
    expect(panel.toggleNumber(2)).toBe(true)
    expect(input('park')?.checked).toBe(true)
    panel.toggleNumber(2)
    expect(m.getClipLabels().scene).toEqual(['park'])
    panel.toggleNumber(5) // mood: calm (not required): toggles on and off
    panel.toggleNumber(5)
    expect(m.getClipLabels().mood).toBeUndefined()
    expect(panel.toggleNumber(99)).toBe(false)
  })

  it('moves with arrows without choosing, picks with Enter, leaves with Esc', () => {
    const { m, panel, input, onExit } = setup()
    panel.focus()
    expect(document.activeElement).toBe(input('street'))
    const press = (key: string) =>
      document.activeElement?.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }))
    press('ArrowDown')
    expect(document.activeElement).toBe(input('park'))
    expect(m.getClipLabels()).toEqual({})
    press('Enter')
    expect(m.getClipLabels()).toEqual({ scene: ['park'] })
    press('ArrowUp')
    press('ArrowUp')
    expect(document.activeElement).toBe(input('busy'))
    press('Escape')
    expect(onExit).toHaveBeenCalled()
  })

  it('shows suggestions with scores and accepts them per group', () => {
    const { m, container } = setup()
    expect(
      suggestedLabels(SCHEMA.clip_groups[0] ?? { name: '', choice: 'single', labels: [] }, { street: 0.2, park: 0.7 }),
    ).toEqual(['park'])
    expect(container.querySelectorAll('[data-testid="clip-label-score"]')).toHaveLength(4)
    container.querySelector<HTMLButtonElement>('[data-testid="clip-suggestion-accept"][data-group="tags"]')?.click()
    expect(m.getClipLabels()).toEqual({ tags: ['speech'] })
  })

  it('marks required groups that are still empty', () => {
    const { container, panel } = setup()
    panel.markMissing(['scene'])
    const group = container.querySelector('[data-group="scene"]')
    expect(group?.classList.contains('em-clip__group--missing')).toBe(true)
    expect(group?.querySelector<HTMLElement>('[data-testid="clip-group-error"]')?.hidden).toBe(false)
  })
})

describe('SegmentList', () => {
  function setup() {
    const m = model()
    const container = document.createElement('div')
    document.body.append(container)
    const handlers = {
      onActivate: vi.fn(),
      onDelete: vi.fn((id: string) => m.removeSegments([id])),
      onEdit: vi.fn((id: string, patch: object) => m.updateSegment(id, patch)),
      onAccept: vi.fn(),
      onReject: vi.fn(),
      onAcceptAll: vi.fn(),
    }
    const list = new SegmentList({ container, model: m, schema: SCHEMA, colorOf: () => '#e6194b', ...handlers })
    m.on('change', (c) => {
      list.apply(c)
    })
    const rows = () => Array.from(container.querySelectorAll<HTMLElement>('[data-testid="segment-row"]'))
    return { m, container, list, rows, handlers }
  }

  it('lists segments in time order and keeps rows that did not change', () => {
    const { m, rows } = setup()
    const late = m.addSegment({ start_s: 5, end_s: 6, label: 'dog' })
    m.addSegment({ start_s: 1, end_s: 2, label: 'bird' })
    expect(rows().map((r) => r.dataset.label)).toEqual(['bird', 'dog'])
    const before = rows()
    if (!late.ok) throw new Error('refused')
    m.updateSegment(late.value.id, { start_s: 0.5 })
    const after = rows()
    expect(after.map((r) => r.dataset.label)).toEqual(['dog', 'bird'])
    // Same DOM nodes, moved, not rebuilt.
    expect(new Set(after)).toEqual(new Set(before))
    expect(after[0]?.textContent).toContain('0:00.500 – 0:06.000')
  })

  it('activates and deletes from the row', () => {
    const { m, rows, handlers } = setup()
    const r = m.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!r.ok) throw new Error('refused')
    rows()[0]?.querySelector<HTMLElement>('.em-seglist__label')?.click()
    expect(handlers.onActivate).toHaveBeenCalledWith(r.value.id, 'segment')
    rows()[0]?.querySelector<HTMLElement>('[data-testid="segment-delete"]')?.click()
    expect(rows()).toHaveLength(0)
  })

  it('edits start, end, label and text of the selected segment, showing refusals', () => {
    const { m, container, list } = setup()
    const r = m.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!r.ok) throw new Error('refused')
    list.setSelected(r.value.id)
    const field = (testid: string) => container.querySelector(`[data-testid="${testid}"]`)
    const start = field('segment-start-input') as HTMLInputElement | null
    expect(start?.value).toBe('1.000')
    if (!start) throw new Error('no editor')
    start.value = '0:01.25'
    start.dispatchEvent(new Event('change', { bubbles: true }))
    expect(m.getSegment(r.value.id)?.start_s).toBe(1.25)
    start.value = '3'
    start.dispatchEvent(new Event('change', { bubbles: true }))
    // 3 > end 2: the model orders them, so the segment becomes 2..3.
    expect(m.getSegment(r.value.id)).toMatchObject({ start_s: 2, end_s: 3 })
    start.value = 'abc'
    start.dispatchEvent(new Event('change', { bubbles: true }))
    expect((field('segment-edit-error') as HTMLElement | null)?.hidden).toBe(false)
    const label = field('segment-label-select') as HTMLSelectElement | null
    if (!label) throw new Error('no label select')
    label.value = 'bird'
    label.dispatchEvent(new Event('change', { bubbles: true }))
    const text = field('segment-text-input') as HTMLTextAreaElement | null
    if (!text) throw new Error('no text field')
    text.value = 'far away'
    text.dispatchEvent(new Event('change', { bubbles: true }))
    expect(m.getSegment(r.value.id)).toMatchObject({ label: 'bird', text: 'far away' })
    expect(container.querySelector('[data-testid="segment-row"]')?.textContent).toContain('“far away”')
  })

  it('lists suggestions with accept, reject and accept all', () => {
    const { m, container, list, handlers } = setup()
    m.reset({}, [
      { start_s: 1, end_s: 2, label: 'dog', score: 0.9 },
      { start_s: 3, end_s: 4, label: 'bird', score: 0.4 },
    ])
    list.rebuild()
    const rows = container.querySelectorAll<HTMLElement>('[data-testid="prediction-row"]')
    expect(rows).toHaveLength(2)
    expect(rows[0]?.querySelector('[data-testid="prediction-score"]')?.textContent).toBe('0.90')
    rows[0]?.querySelector<HTMLElement>('[data-testid="prediction-accept"]')?.click()
    rows[1]?.querySelector<HTMLElement>('[data-testid="prediction-reject"]')?.click()
    container.querySelector<HTMLElement>('[data-testid="predictions-accept-all"]')?.click()
    expect(handlers.onAccept).toHaveBeenCalledWith(rows[0]?.dataset.segmentId)
    expect(handlers.onReject).toHaveBeenCalledWith(rows[1]?.dataset.segmentId)
    expect(handlers.onAcceptAll).toHaveBeenCalled()
  })

  it('updates 500 rows’ worth of edits quickly', () => {
    const { m, rows } = setup()
    const t0 = performance.now()
    for (let i = 0; i < 500; i++) m.addSegment({ start_s: i * 0.1, end_s: i * 0.1 + 0.05, label: 'dog' })
    const id = m.getSegments()[0]?.id ?? ''
    for (let i = 0; i < 50; i++) m.updateSegment(id, { end_s: 0.06 + i * 0.0001 })
    expect(rows()).toHaveLength(500)
    expect(performance.now() - t0).toBeLessThan(3000)
  })
})
