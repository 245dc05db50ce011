import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { ApiError } from '../api/client'
import { Autosave, isStaleVersion, isTransient, type SaveState } from './autosave'

const stale = () =>
  new ApiError({
    status: 409,
    code: 'stale_version',
    detail: 'annotation 1 changed elsewhere',
    fields: { version: ['current version is 7'] },
  })
const offline = () => new ApiError({ status: 0, code: 'network_error', detail: 'Failed to fetch' })
const invalid = () => new ApiError({ status: 400, code: 'validation_error', detail: 'segments.0.end_s: too late' })

/** A fake server: records the versions sent and answers from a script (default: ok, version + 1) */
function fakeServer() {
  const sent: number[] = []
  const script: Array<Error | 'hang'> = []
  let release: (() => void) | null = null
  const save = vi.fn(async (version: number) => {
    sent.push(version)
    const next = script.shift()
    if (next === 'hang') {
      await new Promise<void>((resolve) => {
        release = resolve
      })
    } else if (next) {
      throw next
    }
    return version + 1
  })
  return {
    save,
    sent,
    script,
    release: () => {
      release?.()
    },
  }
}

function setup(version = 1) {
  const server = fakeServer()
  const autosave = new Autosave({ save: server.save, version, debounceMs: 1000, retryMs: 1000, maxRetryMs: 8000 })
  const states: SaveState[] = []
  autosave.on('state', (s) => states.push(s))
  return { server, autosave, states }
}

describe('Autosave', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('saves once, a second after the last of a burst of changes', async () => {
    const { server, autosave, states } = setup(3)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(600)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(600)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(999)
    expect(server.save).not.toHaveBeenCalled()
    expect(autosave.getState()).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(server.sent).toEqual([3])
    expect(autosave.getState()).toBe('saved')
    expect(autosave.getVersion()).toBe(4)
    expect(autosave.isDirty()).toBe(false)
    expect(states).toEqual(['pending', 'saving', 'saved'])
  })

  it('sends the version the previous save returned', async () => {
    const { server, autosave } = setup(1)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    expect(server.sent).toEqual([1, 2])
  })

  it('never sends two requests at once; changes during a save are saved after it', async () => {
    const { server, autosave } = setup(1)
    server.script.push('hang')
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    expect(autosave.getState()).toBe('saving')
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(5000)
    expect(server.save).toHaveBeenCalledTimes(1)
    server.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(autosave.getState()).toBe('pending')
    await vi.advanceTimersByTimeAsync(1000)
    expect(server.sent).toEqual([1, 2])
    expect(autosave.getState()).toBe('saved')
  })

  it('emits saved only when nothing is left unsaved', async () => {
    const { server, autosave } = setup(1)
    const saved = vi.fn()
    autosave.on('saved', saved)
    server.script.push('hang')
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    autosave.markDirty()
    server.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(saved).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1000)
    expect(saved).toHaveBeenCalledWith(3)
  })

  describe('409 stale_version', () => {
    it('stops in the conflict state without retrying or overwriting', async () => {
      const { server, autosave } = setup(1)
      const conflict = vi.fn()
      autosave.on('conflict', conflict)
      server.script.push(stale())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      expect(autosave.getState()).toBe('conflict')
      expect(conflict).toHaveBeenCalledTimes(1)
      expect(isStaleVersion(autosave.getError())).toBe(true)
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(60_000)
      expect(server.save).toHaveBeenCalledTimes(1)
      expect(autosave.isDirty()).toBe(true)
    })

    it('"keep mine" saves at once with the server’s current version', async () => {
      const { server, autosave } = setup(1)
      server.script.push(stale())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      autosave.resolveConflict(7)
      await vi.advanceTimersByTimeAsync(0)
      expect(server.sent).toEqual([1, 7])
      expect(autosave.getState()).toBe('saved')
      expect(autosave.getVersion()).toBe(8)
    })

    it('"load theirs" adopts their version with nothing unsaved', async () => {
      const { server, autosave } = setup(1)
      server.script.push(stale())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      autosave.adopt(7)
      expect(autosave.getState()).toBe('saved')
      expect(autosave.isDirty()).toBe(false)
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      expect(server.sent).toEqual([1, 7])
    })

    it('markConflict() enters the conflict state without a request', async () => {
      const { server, autosave } = setup(1)
      autosave.markConflict()
      await vi.advanceTimersByTimeAsync(10_000)
      expect(autosave.getState()).toBe('conflict')
      expect(autosave.isDirty()).toBe(true)
      expect(server.save).not.toHaveBeenCalled()
      await expect(autosave.flush()).rejects.toMatchObject({ code: 'stale_version' })
    })
  })

  describe('offline', () => {
    it('retries with exponential backoff, then recovers', async () => {
      const { server, autosave, states } = setup(1)
      server.script.push(offline(), offline(), offline(), offline(), offline())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      expect(autosave.getState()).toBe('offline')
      const times: number[] = []
      let t = 0
      while (server.save.mock.calls.length < 6) {
        const before = server.save.mock.calls.length
        await vi.advanceTimersByTimeAsync(100)
        t += 100
        if (server.save.mock.calls.length > before) times.push(t)
      }
      // Retries after 1, 2, 4, 8 and 8 s (capped).
      expect(times).toEqual([1000, 3000, 7000, 15000, 23000])
      expect(autosave.getState()).toBe('saved')
      expect(states.filter((s) => s === 'offline').length).toBe(5)
    })

    it('keeps later changes and sends them with the retry', async () => {
      const { server, autosave } = setup(1)
      server.script.push(offline())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      autosave.markDirty()
      expect(autosave.getState()).toBe('offline')
      await vi.advanceTimersByTimeAsync(1000)
      expect(server.save).toHaveBeenCalledTimes(2)
      expect(autosave.getState()).toBe('saved')
      expect(autosave.isDirty()).toBe(false)
    })

    it('retries at once when asked (the browser is back online)', async () => {
      const { server, autosave } = setup(1)
      server.script.push(offline())
      autosave.markDirty()
      await vi.advanceTimersByTimeAsync(1000)
      autosave.retryNow()
      await vi.advanceTimersByTimeAsync(0)
      expect(server.save).toHaveBeenCalledTimes(2)
      expect(autosave.getState()).toBe('saved')
    })

    it('classifies errors', () => {
      expect(isTransient(offline())).toBe(true)
      expect(isTransient(new ApiError({ status: 503, code: 'http_error', detail: '' }))).toBe(true)
      expect(isTransient(new TypeError('Failed to fetch'))).toBe(true)
      expect(isTransient(invalid())).toBe(false)
      expect(isTransient(stale())).toBe(false)
    })
  })

  it('stops on a refusal and tries again on the next change', async () => {
    const { server, autosave } = setup(1)
    server.script.push(invalid())
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    expect(autosave.getState()).toBe('error')
    expect(autosave.getError()?.detail).toMatch(/too late/)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(server.save).toHaveBeenCalledTimes(1)
    autosave.markDirty()
    await vi.advanceTimersByTimeAsync(1000)
    expect(server.save).toHaveBeenCalledTimes(2)
    expect(autosave.getState()).toBe('saved')
  })

  describe('flush', () => {
    it('saves now and resolves once everything is saved', async () => {
      const { server, autosave } = setup(1)
      autosave.markDirty()
      const done = autosave.flush()
      await vi.advanceTimersByTimeAsync(0)
      await expect(done).resolves.toBeUndefined()
      expect(server.sent).toEqual([1])
      await vi.advanceTimersByTimeAsync(5000)
      expect(server.save).toHaveBeenCalledTimes(1)
    })

    it('with force, saves even without changes (lead time)', async () => {
      const { server, autosave } = setup(4)
      await autosave.flush({ force: true })
      expect(server.sent).toEqual([4])
    })

    it('does nothing when all is saved', async () => {
      const { server, autosave } = setup(1)
      await autosave.flush()
      expect(server.save).not.toHaveBeenCalled()
    })

    it('rejects with the failure', async () => {
      const { server, autosave } = setup(1)
      server.script.push(offline())
      autosave.markDirty()
      await expect(autosave.flush()).rejects.toMatchObject({ code: 'network_error' })
      server.script.push(stale())
      await expect(autosave.flush()).rejects.toMatchObject({ code: 'stale_version' })
    })
  })

  it('destroy() cancels what is scheduled', async () => {
    const { server, autosave } = setup(1)
    autosave.markDirty()
    autosave.destroy()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(server.save).not.toHaveBeenCalled()
    expect(vi.getTimerCount()).toBe(0)
  })
})
