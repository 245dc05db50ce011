// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'

import { LeadTimer } from './lead-time'

function clock(start = 1000) {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}

describe('LeadTimer', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('counts active time on top of what was recorded before', () => {
    const c = clock()
    const timer = new LeadTimer({ now: c.now, initialS: 10 })
    c.advance(2500)
    expect(timer.elapsedS()).toBe(12.5)
  })

  it('stops while paused (tab hidden) and resumes', () => {
    const c = clock()
    const timer = new LeadTimer({ now: c.now })
    c.advance(3000)
    timer.pause()
    c.advance(60_000)
    expect(timer.elapsedS()).toBe(3)
    timer.resume()
    c.advance(1000)
    expect(timer.elapsedS()).toBe(4)
    timer.pause()
    timer.pause()
    expect(timer.isRunning()).toBe(false)
  })

  it('stops counting after idleMs without activity, until the next activity', () => {
    const c = clock()
    const timer = new LeadTimer({ now: c.now, idleMs: 10_000 })
    c.advance(4000)
    timer.activity()
    c.advance(60_000) // idle: only 10 s of this counts
    expect(timer.elapsedS()).toBe(14)
    timer.activity()
    c.advance(2000)
    expect(timer.elapsedS()).toBe(16)
  })

  it('can start paused', () => {
    const c = clock()
    const timer = new LeadTimer({ now: c.now, running: false })
    c.advance(5000)
    expect(timer.elapsedS()).toBe(0)
    timer.resume()
    c.advance(1000)
    expect(timer.elapsedS()).toBe(1)
  })

  it('follows the document’s visibility', () => {
    const c = clock()
    let state: DocumentVisibilityState = 'visible'
    vi.spyOn(document, 'visibilityState', 'get').mockImplementation(() => state)
    const timer = new LeadTimer({ now: c.now })
    const detach = timer.attach(document)
    c.advance(1000)
    state = 'hidden'
    document.dispatchEvent(new Event('visibilitychange'))
    c.advance(30_000)
    state = 'visible'
    document.dispatchEvent(new Event('visibilitychange'))
    c.advance(500)
    expect(timer.elapsedS()).toBe(1.5)
    detach()
    state = 'hidden'
    document.dispatchEvent(new Event('visibilitychange'))
    c.advance(500)
    expect(timer.elapsedS()).toBe(2)
  })

  it('destroy() stops counting and listening', () => {
    const c = clock()
    const timer = new LeadTimer({ now: c.now })
    timer.attach(document)
    c.advance(1000)
    timer.destroy()
    c.advance(1000)
    expect(timer.elapsedS()).toBe(1)
  })
})
