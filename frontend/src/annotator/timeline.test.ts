// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'

import { notchesIn, Timeline, timelineSpacing } from './timeline'

describe('timelineSpacing', () => {
  it('labels round steps at least 80 px apart, ticks at least 10 px apart dividing them', () => {
    expect(timelineSpacing(128)).toEqual({ tickS: 0.1, labelS: 1 })
    expect(timelineSpacing(1)).toEqual({ tickS: 10, labelS: 120 })
    // The whole of 3 hours in 1300 px: a label every 15 minutes, a tick every 5.
    expect(timelineSpacing(1300 / 10800)).toEqual({ tickS: 300, labelS: 900 })
    for (const pxPerS of [0.05, 0.3, 3, 17, 40, 128, 600]) {
      const { tickS, labelS } = timelineSpacing(pxPerS)
      expect(labelS * pxPerS).toBeGreaterThanOrEqual(80)
      expect(tickS * pxPerS).toBeGreaterThanOrEqual(10)
      expect(Math.abs(labelS / tickS - Math.round(labelS / tickS))).toBeLessThan(1e-6)
    }
  })
})

describe('notchesIn', () => {
  it('lists the notches of a window, labelled on the label step, within the recording', () => {
    expect(notchesIn(9.95, 11.05, { tickS: 0.5, labelS: 1 }, 3600)).toEqual([
      [10, true],
      [10.5, false],
      [11, true],
    ])
    expect(notchesIn(3598, 3700, { tickS: 1, labelS: 2 }, 3600)).toEqual([
      [3598, true],
      [3599, false],
      [3600, true],
    ])
  })
})

describe('Timeline', () => {
  it('draws only the notches near the view, however long the recording', () => {
    const parent = document.createElement('div')
    const spectrogram = document.createElement('div')
    parent.append(document.createElement('div'), spectrogram)
    const timeline = new Timeline({ parent, before: spectrogram, durationS: 10_800, format: (s) => `${s}s` })
    const el = parent.querySelector<HTMLElement>('[data-testid="timeline"]')
    expect(el?.nextElementSibling).toBe(spectrogram)
    // 3 hours at 128 px/s, a 10 s view in the middle: ticks every 0.1 s over 30 s, not 108,000.
    timeline.render({ startS: 5000, endS: 5010, pxPerS: 128 })
    const notches = Array.from(el?.children ?? []) as HTMLElement[]
    expect(notches.length).toBe(301)
    const first = notches.find((n) => n.textContent === '5000s')
    expect(first?.style.left).toBe(`${5000 * 128}px`)
    // A scroll inside the drawn window redraws nothing; leaving it or a zoom does.
    timeline.render({ startS: 5009, endS: 5019, pxPerS: 128 })
    expect(el?.firstElementChild).toBe(notches[0])
    timeline.render({ startS: 5011, endS: 5021, pxPerS: 128 })
    expect(el?.firstElementChild).not.toBe(notches[0])
    timeline.render({ startS: 0, endS: 10_800, pxPerS: 0.12 })
    expect(Array.from(el?.children ?? []).map((n) => n.textContent)).toContain('900s')
    timeline.destroy()
    expect(parent.querySelector('[data-testid="timeline"]')).toBeNull()
  })
})
