import { describe, expect, it, vi } from 'vitest'

import EventEmitter from './event-emitter'

type Events = {
  tick: [n: number]
  done: []
}

class Emitter extends EventEmitter<Events> {
  fire<E extends keyof Events>(event: E, ...args: Events[E]) {
    this.emit(event, ...args)
  }
}

describe('EventEmitter', () => {
  it('on() returns an unsubscribe function', () => {
    const emitter = new Emitter()
    const listener = vi.fn()
    const unsubscribe = emitter.on('tick', listener)
    emitter.fire('tick', 1)
    unsubscribe()
    emitter.fire('tick', 2)
    expect(listener).toHaveBeenCalledTimes(1)
    expect(listener).toHaveBeenCalledWith(1)
  })

  it('once() fires a single time', () => {
    const emitter = new Emitter()
    const listener = vi.fn()
    emitter.once('done', listener)
    emitter.fire('done')
    emitter.fire('done')
    expect(listener).toHaveBeenCalledTimes(1)
  })

  it('lets a listener unsubscribe another during emit without skipping it', () => {
    const emitter = new Emitter()
    const second = vi.fn()
    let unsubscribeSecond: () => void = vi.fn()
    emitter.on('tick', () => {
      unsubscribeSecond()
    })
    unsubscribeSecond = emitter.on('tick', second)
    emitter.fire('tick', 1)
    emitter.fire('tick', 2)
    expect(second).toHaveBeenCalledTimes(1)
  })

  it('unAll() removes every listener', () => {
    const emitter = new Emitter()
    const listener = vi.fn()
    emitter.on('tick', listener)
    emitter.on('done', listener)
    emitter.unAll()
    emitter.fire('tick', 1)
    emitter.fire('done')
    expect(listener).not.toHaveBeenCalled()
  })
})
