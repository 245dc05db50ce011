// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest'

import type { Segment } from '../model'
import { type BoxGeometry, BoxLayer, boxFromPoints, dragBox, hitEdges } from './boxes'
import { hzToY } from './tiles'

const G: BoxGeometry = { pxPerS: 100, heightPx: 200, scale: 'linear', nyquistHz: 8000, durationS: 60 }
const NONE = { left: false, right: false, top: false, bottom: false }

function seg(id: string, start: number, end: number, band: [number, number] | null = [1000, 2000]): Segment {
  return {
    id,
    start_s: start,
    end_s: end,
    label: 'dog',
    low_hz: band?.[0] ?? null,
    high_hz: band?.[1] ?? null,
    text: '',
  }
}

describe('box geometry', () => {
  it('finds the edges near a point', () => {
    expect(hitEdges(100, 50, 2, 25)).toEqual({ left: true, right: false, top: false, bottom: false })
    expect(hitEdges(100, 50, 98, 48)).toEqual({ left: false, right: true, top: false, bottom: true })
    expect(hitEdges(100, 50, 50, 25)).toEqual(NONE)
    // Tiny boxes: the tolerance shrinks so the middle still moves the box.
    expect(hitEdges(6, 6, 3, 3)).toEqual(NONE)
  })

  it('moves a whole box in time and frequency, inside the recording and the band', () => {
    const box = { start_s: 1, end_s: 2, low_hz: 1000, high_hz: 2000 }
    // 100 px right = 1 s; 25 px down on a linear 8 kHz / 200 px axis = -1000 Hz.
    expect(dragBox(box, NONE, 100, 25, G)).toEqual({ start_s: 2, end_s: 3, low_hz: 0, high_hz: 1000 })
    const clamped = dragBox(box, NONE, -500, 500, G)
    expect(clamped.start_s).toBe(0)
    expect(clamped.end_s).toBe(1)
    expect(clamped.low_hz).toBeCloseTo(0)
    expect(clamped.high_hz).toBeCloseTo(1000)
  })

  it('resizes the dragged edges only', () => {
    const box = { start_s: 1, end_s: 2, low_hz: 1000, high_hz: 2000 }
    expect(dragBox(box, { ...NONE, right: true }, 50, 0, G)).toEqual({
      start_s: 1,
      end_s: 2.5,
      low_hz: 1000,
      high_hz: 2000,
    })
    expect(dragBox(box, { ...NONE, top: true }, 0, -25, G)).toEqual({
      start_s: 1,
      end_s: 2,
      low_hz: 1000,
      high_hz: 3000,
    })
    // Dragging the left edge past the right one swaps them.
    expect(dragBox(box, { ...NONE, left: true }, 150, 0, G)).toMatchObject({ start_s: 2, end_s: 2.5 })
  })

  it('moves a segment without a band in time only', () => {
    expect(dragBox({ start_s: 1, end_s: 2, low_hz: null, high_hz: null }, NONE, 100, 40, G)).toEqual({
      start_s: 2,
      end_s: 3,
      low_hz: null,
      high_hz: null,
    })
  })

  it('turns a drag into a box on the mel scale too', () => {
    const mel: BoxGeometry = { ...G, scale: 'mel' }
    const y1k = hzToY(1000, 'mel', 8000, 200)
    const y3k = hzToY(3000, 'mel', 8000, 200)
    const box = boxFromPoints(300, y1k, 100, y3k, mel)
    expect(box.start_s).toBe(1)
    expect(box.end_s).toBe(3)
    expect(box.low_hz).toBeCloseTo(1000, 6)
    expect(box.high_hz).toBeCloseTo(3000, 6)
  })
})

describe('BoxLayer', () => {
  afterEach(() => {
    document.body.replaceChildren()
  })

  function setup(interactive = true) {
    const container = document.createElement('div')
    document.body.append(container)
    const layer = new BoxLayer({ container, interactive, getGeometry: () => G, colorOf: () => '#e6194b' })
    return { layer, container }
  }

  it('keeps only the boxes in view in the DOM', () => {
    const { layer, container } = setup()
    const segments = Array.from({ length: 500 }, (_, i) => seg(`s${i}`, i * 2, i * 2 + 1))
    layer.setItems(segments, [])
    layer.setView(100, 110)
    const ids = layer.renderedIds()
    expect(ids.length).toBeGreaterThan(4)
    expect(ids.length).toBeLessThan(10)
    expect(container.querySelectorAll('[data-testid="frequency-box"]')).toHaveLength(ids.length)
    layer.setView(900, 910)
    expect(layer.renderedIds()).not.toContain(ids[0])
  })

  it('places a box by time and frequency', () => {
    const { layer, container } = setup()
    layer.setItems([seg('a', 1, 2, [2000, 4000])], [])
    layer.setView(0, 10)
    const el = container.querySelector<HTMLElement>('[data-box-id="a"]')
    expect(el?.style.left).toBe('100px')
    expect(el?.style.width).toBe('100px')
    expect(el?.style.top).toBe('100px')
    expect(el?.style.height).toBe('50px')
  })

  it('draws suggestions dashed with their score, and marks the selection', () => {
    const { layer, container } = setup()
    layer.setItems(
      [seg('a', 1, 2)],
      [{ id: 'p1', start_s: 3, end_s: 4, label: 'dog', score: 0.87, low_hz: 100, high_hz: 500 }],
    )
    layer.setView(0, 10)
    const p = container.querySelector<HTMLElement>('[data-box-id="p1"]')
    expect(p?.getAttribute('data-testid')).toBe('frequency-box-prediction')
    expect(p?.style.border).toContain('dashed')
    expect(p?.textContent).toBe('dog 87%')
    layer.setSelected('a')
    expect(container.querySelector<HTMLElement>('[data-box-id="a"]')?.dataset.selected).toBe('true')
  })

  it('is inert when the schema has no frequency bands', () => {
    const { container } = setup(false)
    expect(container.style.pointerEvents).toBe('')
  })
})
