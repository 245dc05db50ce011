// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WaveSurferEvents, WaveSurferOptions } from 'wavesurfer.js'

import { ApiError, type AudioItem, type Peaks, type Query } from '../api/client'
import EventEmitter from '../common/event-emitter'
import { mountPlayers } from './mount'
import { formatTime, ItemPlayer, type ItemPlayerClient, type ItemPlayerState } from './player'

/** Stands in for WaveSurfer: records its options and lets tests fire its events */
class FakeWaveSurfer extends EventEmitter<WaveSurferEvents> {
  readonly playPause = vi.fn(() => Promise.resolve())
  readonly destroy = vi.fn(() => {
    this.unAll()
  })
  constructor(readonly options: WaveSurferOptions) {
    super()
  }
  fire<E extends keyof WaveSurferEvents>(event: E, ...args: WaveSurferEvents[E]) {
    this.emit(event, ...args)
  }
}

function makeItem(overrides: Partial<AudioItem> = {}): AudioItem {
  return {
    id: 7,
    project: 1,
    original_name: 'dawn-chorus.wav',
    state: 'ready',
    error: null,
    duration_s: 12.5,
    sample_rate_hz: 48000,
    channels: 2,
    format: 'wav',
    size_bytes: 2400000,
    sha256: 'ab'.repeat(32),
    created_at: '2025-01-01T00:00:00Z',
    ...overrides,
  }
}

const peaks: Peaks = {
  duration_s: 12.5,
  sample_rate_hz: 48000,
  samples_per_bin: 300,
  channels: 2,
  start_s: 0,
  end_s: 12.5,
  data: [
    [0.1, 0.5, 0.2],
    [0.2, 0.4, 0.1],
  ],
}

/** A fake API client serving a queue of item responses, then the peaks */
function fakeClient(...items: Array<AudioItem | Error>) {
  const calls: Array<{ path: string; query: Query | undefined }> = []
  const client: ItemPlayerClient = {
    url: (path) => `https://earmark.test${path}`,
    get: <T>(path: string, query?: Query) => {
      calls.push({ path, query })
      if (path.endsWith('/peaks/')) return Promise.resolve(peaks as T)
      const next = items.length > 1 ? items.shift() : items[0]
      if (next === undefined) return Promise.reject(new Error('no item queued'))
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next as T)
    },
  }
  return { client, calls }
}

function setup(...items: Array<AudioItem | Error>) {
  const { client, calls } = fakeClient(...items)
  const container = document.createElement('div')
  document.body.append(container)
  const fakes: FakeWaveSurfer[] = []
  const createWaveSurfer = vi.fn((options: WaveSurferOptions) => {
    const fake = new FakeWaveSurfer(options)
    fakes.push(fake)
    return fake
  })
  const player = new ItemPlayer(container, { client, itemId: 7, createWaveSurfer })
  const states: ItemPlayerState[] = []
  const errors: Error[] = []
  player.on('state', (state) => states.push(state))
  player.on('error', (error) => errors.push(error))
  return { player, container, calls, fakes, createWaveSurfer, states, errors }
}

const status = (container: HTMLElement) => container.querySelector<HTMLElement>('.earmark-player__status')
const toggle = (container: HTMLElement) => container.querySelector<HTMLButtonElement>('.earmark-player__toggle')
const itemGets = (calls: Array<{ path: string }>) => calls.filter((c) => c.path === '/api/items/7/').length

function pressSpace(target: EventTarget = document.body) {
  const event = new KeyboardEvent('keydown', { key: ' ', code: 'Space', bubbles: true, cancelable: true })
  target.dispatchEvent(event)
  return event
}

describe('ItemPlayer', () => {
  let players: ItemPlayer[] = []

  beforeEach(() => {
    vi.useFakeTimers()
    // jsdom has no media playback; WaveSurfer is faked, but destroy() stops the element itself.
    vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => undefined)
    vi.spyOn(HTMLMediaElement.prototype, 'load').mockImplementation(() => undefined)
    players = []
  })

  afterEach(() => {
    players.forEach((p) => {
      p.destroy()
    })
    vi.useRealTimers()
    document.body.replaceChildren()
  })

  function track<T extends { player: ItemPlayer }>(ctx: T): T {
    players.push(ctx.player)
    return ctx
  }

  it('polls every 2 s while pending, then loads the waveform', async () => {
    vi.spyOn(HTMLElement.prototype, 'clientWidth', 'get').mockReturnValue(640)
    const { player, container, calls, fakes, createWaveSurfer, states } = track(
      setup(makeItem({ state: 'pending', duration_s: null }), makeItem({ state: 'pending' }), makeItem()),
    )

    await vi.advanceTimersByTimeAsync(0)
    expect(itemGets(calls)).toBe(1)
    expect(player.getState()).toBe('pending')
    expect(status(container)?.textContent).toMatch(/processing/i)
    expect(createWaveSurfer).not.toHaveBeenCalled()

    await vi.advanceTimersByTimeAsync(1999)
    expect(itemGets(calls)).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(itemGets(calls)).toBe(2)
    expect(player.getState()).toBe('pending')

    await vi.advanceTimersByTimeAsync(2000)
    expect(itemGets(calls)).toBe(3)
    expect(calls.at(-1)).toEqual({ path: '/api/items/7/peaks/', query: { target_bins: 1280 } })
    expect(createWaveSurfer).toHaveBeenCalledTimes(1)

    const options = fakes[0]?.options
    expect(options?.peaks).toBe(peaks.data)
    expect(options?.duration).toBe(12.5)
    expect(options?.url).toBe('https://earmark.test/api/items/7/audio/')
    expect(options?.media).toBeInstanceOf(HTMLAudioElement)
    expect(options?.media?.preload).toBe('metadata')
    expect(options?.plugins).toHaveLength(1)
    expect(options?.container).toBe(container.querySelector('.earmark-player__waveform'))
    expect(player.getState()).toBe('loading')
    expect(toggle(container)?.disabled).toBe(true)

    const ready = vi.fn()
    player.on('ready', ready)
    fakes[0]?.fire('ready', 12.5)

    expect(ready).toHaveBeenCalledWith(makeItem(), 12.5)
    expect(player.getState()).toBe('ready')
    expect(states).toEqual(['pending', 'loading', 'ready'])
    expect(status(container)?.hidden).toBe(true)
    expect(toggle(container)?.disabled).toBe(false)
    expect(container.querySelector('.earmark-player__time')?.textContent).toBe('0:00 / 0:12')

    // No more polling once ready.
    await vi.advanceTimersByTimeAsync(10_000)
    expect(itemGets(calls)).toBe(3)
  })

  it('shows the processing error when the item failed', async () => {
    const { player, container, calls, createWaveSurfer, states, errors } = track(
      setup(makeItem({ state: 'pending' }), makeItem({ state: 'failed', error: 'Unsupported codec: amr' })),
    )

    await vi.advanceTimersByTimeAsync(2000)

    expect(player.getState()).toBe('failed')
    expect(states).toEqual(['pending', 'failed'])
    expect(status(container)?.textContent).toBe('Unsupported codec: amr')
    expect(status(container)?.hidden).toBe(false)
    expect(container.querySelector('.earmark-player')?.getAttribute('data-state')).toBe('failed')
    expect(calls.some((c) => c.path.endsWith('/peaks/'))).toBe(false)
    expect(createWaveSurfer).not.toHaveBeenCalled()
    expect(errors).toEqual([])

    await vi.advanceTimersByTimeAsync(10_000)
    expect(itemGets(calls)).toBe(2)
  })

  it('uses a generic message when a failed item has no error text', async () => {
    const { container } = track(setup(makeItem({ state: 'failed', error: '' })))
    await vi.advanceTimersByTimeAsync(0)
    expect(status(container)?.textContent).toBe('Processing failed.')
  })

  it('reports API errors', async () => {
    const notFound = new ApiError({ status: 404, code: 'not_found', detail: 'No such item.' })
    const { player, container, states, errors } = track(setup(notFound))

    await vi.advanceTimersByTimeAsync(0)

    expect(player.getState()).toBe('error')
    expect(states).toEqual(['error'])
    expect(errors).toEqual([notFound])
    expect(status(container)?.textContent).toBe('No such item.')
  })

  it('reports WaveSurfer/media errors', async () => {
    const { player, container, fakes, errors } = track(setup(makeItem()))
    await vi.advanceTimersByTimeAsync(0)
    fakes[0]?.fire('ready', 12.5)

    const mediaError = new Error('MEDIA_ERR_NETWORK')
    fakes[0]?.fire('error', mediaError)

    expect(player.getState()).toBe('error')
    expect(errors).toEqual([mediaError])
    expect(status(container)?.textContent).toBe('MEDIA_ERR_NETWORK')
    expect(toggle(container)?.disabled).toBe(true)
  })

  it('wraps MediaError objects, which are not Errors', async () => {
    const { container, fakes, errors } = track(setup(makeItem()))
    await vi.advanceTimersByTimeAsync(0)
    fakes[0]?.fire('error', { code: 4, message: '' } as unknown as Error)
    expect(errors[0]).toBeInstanceOf(Error)
    expect(status(container)?.textContent).toBe('Media error')
  })

  it('on() returns an unsubscribe function', async () => {
    const { player } = track(setup(makeItem({ state: 'pending' }), makeItem()))
    const listener = vi.fn()
    const unsubscribe = player.on('state', listener)
    unsubscribe()
    await vi.advanceTimersByTimeAsync(2000)
    expect(player.getState()).toBe('loading')
    expect(listener).not.toHaveBeenCalled()
  })

  it('destroy() stops polling, removes the DOM and releases listeners', async () => {
    const { player, container, calls, states } = setup(makeItem({ state: 'pending' }))
    await vi.advanceTimersByTimeAsync(0)
    expect(itemGets(calls)).toBe(1)

    player.destroy()
    await vi.advanceTimersByTimeAsync(10_000)

    expect(itemGets(calls)).toBe(1)
    expect(container.childElementCount).toBe(0)
    expect(states).toEqual(['pending'])
    expect(vi.getTimerCount()).toBe(0)
    player.destroy() // idempotent
  })

  it('destroy() tears down WaveSurfer, the media stream and the key handler', async () => {
    const removeListener = vi.spyOn(document, 'removeEventListener')
    const pause = vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => undefined)
    const { player, fakes } = setup(makeItem())
    await vi.advanceTimersByTimeAsync(0)
    const fake = fakes[0]
    const media = fake?.options.media
    fake?.fire('ready', 12.5)

    player.destroy()

    expect(fake?.destroy).toHaveBeenCalledTimes(1)
    expect(media?.hasAttribute('src')).toBe(false)
    expect(pause).toHaveBeenCalled()
    expect(removeListener).toHaveBeenCalledWith('keydown', expect.any(Function))
    pressSpace()
    expect(fake?.playPause).not.toHaveBeenCalled()
  })

  it('reports a rejected play() without leaving the ready state', async () => {
    const { player, container, fakes, errors } = track(setup(makeItem()))
    await vi.advanceTimersByTimeAsync(0)
    const fake = fakes[0]
    fake?.fire('ready', 12.5)
    const denied = new DOMException('play() not allowed', 'NotAllowedError')
    fake?.playPause.mockRejectedValueOnce(denied)

    toggle(container)?.click()
    await vi.advanceTimersByTimeAsync(0)

    expect(errors).toEqual([denied])
    expect(player.getState()).toBe('ready')
    expect(status(container)?.textContent).toBe('play() not allowed')
    expect(toggle(container)?.disabled).toBe(false)
  })

  describe('Space key', () => {
    async function readyPlayer() {
      const ctx = track(setup(makeItem()))
      await vi.advanceTimersByTimeAsync(0)
      ctx.fakes[0]?.fire('ready', 12.5)
      const fake = ctx.fakes[0]
      if (!fake) throw new Error('WaveSurfer was not created')
      return { ...ctx, fake }
    }

    it('toggles play/pause when ready', async () => {
      const { fake } = await readyPlayer()
      const event = pressSpace()
      expect(fake.playPause).toHaveBeenCalledTimes(1)
      expect(event.defaultPrevented).toBe(true)
    })

    it('does nothing before the player is ready', async () => {
      const { fakes } = track(setup(makeItem({ state: 'pending' })))
      await vi.advanceTimersByTimeAsync(0)
      const event = pressSpace()
      expect(fakes).toHaveLength(0)
      expect(event.defaultPrevented).toBe(false)
    })

    it.each([
      ['an input', '<input type="text">'],
      ['a textarea', '<textarea></textarea>'],
      ['a contenteditable', '<div contenteditable="true"><span>x</span></div>'],
    ])('is ignored while typing in %s', async (_name, markup) => {
      const { fake } = await readyPlayer()
      const host = document.createElement('div')
      host.innerHTML = markup
      document.body.append(host)
      const target = host.querySelector('span') ?? host.firstElementChild
      if (!target) throw new Error('bad markup')

      const event = pressSpace(target)

      expect(fake.playPause).not.toHaveBeenCalled()
      expect(event.defaultPrevented).toBe(false)
    })

    it('leaves Space on a focused button to the browser', async () => {
      const { fake, container } = await readyPlayer()
      const button = toggle(container)
      if (!button) throw new Error('no toggle button')
      pressSpace(button)
      expect(fake.playPause).not.toHaveBeenCalled()
      button.click()
      expect(fake.playPause).toHaveBeenCalledTimes(1)
    })

    it('ignores Space with modifiers and key repeats', async () => {
      const { fake } = await readyPlayer()
      document.body.dispatchEvent(
        new KeyboardEvent('keydown', { key: ' ', code: 'Space', ctrlKey: true, bubbles: true }),
      )
      document.body.dispatchEvent(
        new KeyboardEvent('keydown', { key: ' ', code: 'Space', repeat: true, bubbles: true }),
      )
      expect(fake.playPause).not.toHaveBeenCalled()
    })

    it('only drives the active player when several are mounted', async () => {
      const first = await readyPlayer()
      const second = await readyPlayer()

      pressSpace()
      expect(first.fake.playPause).toHaveBeenCalledTimes(1)
      expect(second.fake.playPause).not.toHaveBeenCalled()

      second.container.firstElementChild?.dispatchEvent(new Event('pointerdown', { bubbles: true }))
      pressSpace()
      expect(first.fake.playPause).toHaveBeenCalledTimes(1)
      expect(second.fake.playPause).toHaveBeenCalledTimes(1)
    })
  })
})

describe('mountPlayers', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    document.body.replaceChildren()
  })

  it('mounts one player per [data-earmark-player][data-item-id] element, once', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    document.body.innerHTML = `
      <div data-earmark-player data-item-id="7">fallback</div>
      <div data-earmark-player data-item-id="8"></div>
      <div data-earmark-player data-item-id="abc"></div>
      <div data-earmark-player></div>
      <div data-item-id="9"></div>`
    const { client } = fakeClient(makeItem({ state: 'pending' }))
    const createWaveSurfer = vi.fn()

    const players = mountPlayers(document, client, { createWaveSurfer })
    const again = mountPlayers(document, client, { createWaveSurfer })

    expect(players).toHaveLength(2)
    expect(again).toHaveLength(0)
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('data-item-id="abc"'))
    expect(document.querySelectorAll('.earmark-player')).toHaveLength(2)
    expect(document.body.textContent).not.toContain('fallback')
    players.forEach((p) => {
      p.destroy()
    })
  })
})

describe('formatTime', () => {
  it.each([
    [0, '0:00'],
    [9.9, '0:09'],
    [65, '1:05'],
    [3600 + 62, '1:01:02'],
    [-3, '0:00'],
  ])('formats %s s as %s', (seconds, expected) => {
    expect(formatTime(seconds)).toBe(expected)
  })
})
