import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { ApiError } from '../api/client'
import { isLeaseGone, LeaseHeartbeat, type LeaseRenewal, type LeaseState } from './lease'

const offline = () => new ApiError({ status: 0, code: 'network_error', detail: 'Failed to fetch' })
const serverDown = () => new ApiError({ status: 503, code: 'http_error', detail: 'Service Unavailable' })
const noLease = () => new ApiError({ status: 409, code: 'conflict', detail: 'you hold no lease on item 7' })
const notFound = () => new ApiError({ status: 404, code: 'not_found', detail: 'no lease' })
const forbidden = () => new ApiError({ status: 403, code: 'permission_denied', detail: 'not a member' })

/** A fake lease endpoint answering from a script (default: ok, expiring n minutes from "now") */
function fakeEndpoint() {
  const script: Array<Error | 'hang'> = []
  let release: (() => void) | null = null
  let n = 0
  const renew = vi.fn(async (): Promise<LeaseRenewal> => {
    n++
    const next = script.shift()
    if (next === 'hang')
      await new Promise<void>((resolve) => {
        release = resolve
      })
    else if (next) throw next
    return { expires_at: `2026-11-21T08:${String(n).padStart(2, '0')}:00Z` }
  })
  return {
    renew,
    script,
    release: () => {
      release?.()
    },
  }
}

/** A document whose visibility the test sets */
function fakeDocument() {
  const target = new EventTarget()
  let visibility: DocumentVisibilityState = 'visible'
  Object.defineProperty(target, 'visibilityState', { get: () => visibility })
  const doc = target as unknown as Document
  return {
    doc,
    set(state: DocumentVisibilityState) {
      visibility = state
      target.dispatchEvent(new Event('visibilitychange'))
    },
  }
}

function setup() {
  const endpoint = fakeEndpoint()
  const page = fakeDocument()
  const lease = new LeaseHeartbeat({ renew: endpoint.renew, intervalMs: 60_000, retryMs: 15_000, doc: page.doc })
  const states: LeaseState[] = []
  lease.on('state', (s) => states.push(s))
  return { endpoint, page, lease, states }
}

describe('LeaseHeartbeat', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('renews at once, then every 60 s', async () => {
    const { endpoint, lease, states } = setup()
    expect(lease.getState()).toBe('idle')
    lease.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    expect(lease.getState()).toBe('held')
    expect(lease.getExpiresAt()).toBe('2026-11-21T08:01:00Z')
    await vi.advanceTimersByTimeAsync(59_999)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(4)
    expect(lease.getExpiresAt()).toBe('2026-11-21T08:04:00Z')
    expect(states.filter((s) => s !== 'renewing')).toEqual(['held', 'held', 'held', 'held'])
  })

  it('renews when the tab is shown again, and the next beat is a full interval later', async () => {
    const { endpoint, page, lease } = setup()
    lease.start()
    await vi.advanceTimersByTimeAsync(30_000)
    page.set('hidden')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    page.set('visible')
    await vi.advanceTimersByTimeAsync(0)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    // Not at t = 60 s (the old schedule), but 60 s after the renewal on showing.
    await vi.advanceTimersByTimeAsync(59_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(3)
  })

  it('goes offline on a network failure or a 5xx, retries after 15 s, and is held again', async () => {
    const { endpoint, lease, states } = setup()
    endpoint.script.push(offline(), serverDown())
    lease.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(lease.getState()).toBe('offline')
    expect(lease.getError()?.status).toBe(0)
    await vi.advanceTimersByTimeAsync(15_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    expect(lease.getState()).toBe('offline')
    expect(lease.getError()?.status).toBe(503)
    await vi.advanceTimersByTimeAsync(15_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(3)
    expect(lease.getState()).toBe('held')
    expect(lease.getError()).toBeNull()
    expect(states).toEqual(['renewing', 'offline', 'renewing', 'offline', 'renewing', 'held'])
  })

  it('treats a thrown non-API error (fetch failed) as offline', async () => {
    const { endpoint, lease } = setup()
    endpoint.script.push(new TypeError('Failed to fetch'))
    lease.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(lease.getState()).toBe('offline')
    expect(lease.getError()?.code).toBe('network_error')
  })

  it.each([
    ['409', noLease],
    ['404', notFound],
  ])('stops on %s (no lease held) until the tab is shown again', async (_status, error) => {
    const { endpoint, page, lease } = setup()
    endpoint.script.push(error())
    lease.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(lease.getState()).toBe('lost')
    await vi.advanceTimersByTimeAsync(10 * 60_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    page.set('hidden')
    page.set('visible')
    await vi.advanceTimersByTimeAsync(0)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    expect(lease.getState()).toBe('held')
  })

  it('keeps beating at the normal interval after another refusal (403)', async () => {
    const { endpoint, lease } = setup()
    endpoint.script.push(forbidden())
    lease.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(lease.getState()).toBe('failed')
    await vi.advanceTimersByTimeAsync(15_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(45_000)
    expect(endpoint.renew).toHaveBeenCalledTimes(2)
    expect(lease.getState()).toBe('held')
  })

  it('sends one request at a time', async () => {
    const { endpoint, page, lease } = setup()
    endpoint.script.push('hang')
    lease.start()
    page.set('hidden')
    page.set('visible')
    void lease.beat()
    await vi.advanceTimersByTimeAsync(0)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    expect(lease.getState()).toBe('renewing')
    endpoint.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(lease.getState()).toBe('held')
  })

  it('does nothing before start and nothing after stop, not even for a late answer', async () => {
    const { endpoint, page, lease, states } = setup()
    await lease.beat()
    page.set('visible')
    expect(endpoint.renew).not.toHaveBeenCalled()
    endpoint.script.push('hang')
    lease.start()
    lease.stop()
    endpoint.release()
    await vi.advanceTimersByTimeAsync(10 * 60_000)
    page.set('hidden')
    page.set('visible')
    await vi.advanceTimersByTimeAsync(0)
    expect(endpoint.renew).toHaveBeenCalledTimes(1)
    expect(lease.getState()).toBe('idle')
    expect(states).toEqual(['renewing'])
  })

  it('tells a missing lease from other failures', () => {
    expect(isLeaseGone(noLease())).toBe(true)
    expect(isLeaseGone(notFound())).toBe(true)
    expect(isLeaseGone(forbidden())).toBe(false)
    expect(isLeaseGone(offline())).toBe(false)
    expect(isLeaseGone(new Error('x'))).toBe(false)
  })
})
