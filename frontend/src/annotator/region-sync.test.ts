// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'

import { AnnotationModel } from './model'
import { RegionSync } from './region-sync'
import { normalizeSchema } from './schema'
import { FakeRegions } from './test-fakes'

function setup(heightPx: number | null = null) {
  const model = new AnnotationModel({
    schema: normalizeSchema({ segment_labels: [{ name: 'dog', color: '#e6194b' }] }),
    durationS: 60,
    nyquistHz: 8000,
  })
  const regions = new FakeRegions()
  const sync = new RegionSync({ regions, model, colorOf: () => '#e6194b', heightPx })
  model.on('change', (c) => {
    sync.apply(c)
  })
  return { model, regions, sync }
}

describe('RegionSync', () => {
  it('adds, moves and removes only the regions a change names', () => {
    const { model, regions, sync } = setup()
    for (let i = 0; i < 500; i++) model.addSegment({ start_s: i * 0.1, end_s: i * 0.1 + 0.05, label: 'dog' })
    expect(regions.addRegion).toHaveBeenCalledTimes(500)
    const id = model.getSegments()[42]?.id ?? ''
    const region = sync.getRegion(id)
    model.updateSegment(id, { end_s: 4.28 })
    expect(region?.setOptions).toHaveBeenCalledWith(expect.objectContaining({ start: 4.2, end: 4.28 }))
    const others = [...regions.regions.values()].filter((r) => r.id !== id)
    expect(
      others.every((r) => (r.setOptions as unknown as { mock: { calls: unknown[] } }).mock.calls.length === 0),
    ).toBe(true)
    model.removeSegments([id])
    expect(region?.remove).toHaveBeenCalled()
    expect(sync.size).toBe(499)
    model.undo()
    expect(sync.size).toBe(500)
  })

  it('labels regions without the plugin’s content (which lays out every region on each edit)', () => {
    const { model, regions } = setup(128)
    model.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    const params = regions.addRegion.mock.calls[0]?.[0]
    expect(params).not.toHaveProperty('content')
    const el = [...regions.regions.values()][0]?.element
    expect(el?.getAttribute('data-testid')).toBe('segment-region')
    expect(el?.textContent).toBe('dog')
    expect(el?.style.height).toBe('128px')
  })

  it('turns a drag-selection into a create request and drops the temporary region', () => {
    const { regions, sync } = setup()
    const created: Array<[number, number]> = []
    sync.on('create', (s, e) => created.push([s, e]))
    const temp = regions.dragSelect(3, 4.5)
    expect(created).toEqual([[3, 4.5]])
    expect(temp.removed).toBe(true)
  })

  it('reports mouse moves and puts a refused one back', () => {
    const { model, regions, sync } = setup()
    const r = model.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!r.ok) throw new Error('refused')
    const changes: unknown[] = []
    sync.on('change', (...args) => changes.push(args))
    regions.move(r.value.id, 5, 6)
    expect(changes).toEqual([[r.value.id, 'segment', 5, 6]])
    sync.revert(r.value.id)
    expect(sync.getRegion(r.value.id)?.start).toBe(1)
  })

  it('shows suggestions dashed with their score', () => {
    const { model, regions } = setup()
    model.reset({}, [{ start_s: 1, end_s: 2, label: 'dog', score: 0.75 }])
    const { sync } = { sync: new RegionSync({ regions, model, colorOf: () => '#e6194b', heightPx: null }) }
    sync.addAll()
    const el = [...regions.regions.values()][0]?.element
    expect(el?.getAttribute('data-testid')).toBe('prediction-region')
    expect(el?.style.border).toContain('dashed')
    expect(el?.textContent).toBe('dog 75%')
  })

  it('highlights the selected region', () => {
    const { model, sync } = setup()
    const r = model.addSegment({ start_s: 1, end_s: 2, label: 'dog' })
    if (!r.ok) throw new Error('refused')
    sync.setSelected(r.value.id)
    expect(sync.getRegion(r.value.id)?.element?.dataset.selected).toBe('true')
    sync.setSelected(null)
    expect(sync.getRegion(r.value.id)?.element?.dataset.selected).toBe('false')
  })
})
