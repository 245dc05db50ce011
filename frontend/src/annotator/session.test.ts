// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WaveSurferOptions } from 'wavesurfer.js'

import { ApiError } from '../api/client'
import { DraftStore } from './drafts'
import { normalizeSchema } from './schema'
import { ItemSession, type ItemSessionOptions } from './session'
import { fakeClient, FakeRegions, FakeWaveSurfer, ITEM, memoryStorage, OVERVIEW } from './test-fakes'
import type { Annotation, LabelSchema } from './types'

const RAW_SCHEMA = {
  clip_groups: [{ name: 'scene', choice: 'single' as const, labels: ['street', 'park'], required: true }],
  segment_labels: [
    { name: 'dog', color: '#e6194b', hotkey: '1' },
    { name: 'bird', color: '#3cb44b', hotkey: '2' },
  ],
  segments_overlap: false,
  segment_frequency: false,
  segment_text: false,
}

function annotation(overrides: Partial<Annotation> = {}): Annotation {
  return { id: 12, item: 7, state: 'draft', clip_labels: {}, segments: [], lead_time_s: 0, version: 3, ...overrides }
}

type Setup = {
  schema?: Partial<LabelSchema>
  server?: Annotation
  storage?: ReturnType<typeof memoryStorage>
  patch?: (body: unknown) => unknown
  prediction?: ItemSessionOptions['prediction']
  /** Answers POST /api/items/7/lease/; without it the route is missing (404) */
  lease?: () => unknown
}

function setup({
  schema = {},
  server = annotation(),
  storage = memoryStorage(),
  patch,
  prediction = null,
  lease,
}: Setup = {}) {
  let version = server.version
  const current = () => ({ ...server, version })
  const { client, calls, routes } = fakeClient({
    'PATCH /api/annotations/12/': (body: unknown) => {
      if (patch) return patch(body)
      const sent = (body as { version: number }).version
      if (sent !== version) return new ApiError({ status: 409, code: 'stale_version', detail: 'changed elsewhere' })
      version++
      return current()
    },
    'GET /api/annotations/12/': () => current(),
    'POST /api/annotations/12/submit/': () => ({ ...current(), state: 'submitted', version: ++version }),
    'POST /api/items/7/skip/': () => ({ ...current(), state: 'skipped' }),
    ...(lease ? { 'POST /api/items/7/lease/': lease } : {}),
  })
  const container = document.createElement('div')
  document.body.append(container)
  const fakes: FakeWaveSurfer[] = []
  const regions = new FakeRegions()
  const session = new ItemSession({
    container,
    client,
    project: {
      id: 1,
      name: 'P',
      instructions: 'Label dogs.',
      label_schema: RAW_SCHEMA,
      my_role: 'annotator',
    },
    schema: normalizeSchema({ ...RAW_SCHEMA, ...schema }),
    item: ITEM,
    annotation: server,
    overview: OVERVIEW,
    prediction,
    spectrogramInfo: null,
    username: 'alice',
    storage,
    createWaveSurfer: (options: WaveSurferOptions) => {
      const ws = new FakeWaveSurfer(options)
      fakes.push(ws)
      return ws
    },
    createRegions: () => regions,
  })
  const ws = fakes[0]
  if (!ws) throw new Error('WaveSurfer was not created')
  ws.fire('ready', 30)
  const press = (init: KeyboardEventInit, target: EventTarget = document.body) => {
    const event = new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init })
    target.dispatchEvent(event)
    return event
  }
  const testid = (id: string) => container.querySelector<HTMLElement>(`[data-testid="${id}"]`)
  const all = (id: string) => Array.from(container.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`))
  const patches = () => calls.filter((c) => c.method === 'PATCH')
  return {
    session,
    ws,
    regions,
    client,
    calls,
    routes,
    container,
    press,
    testid,
    all,
    patches,
    storage,
    bumpServer: () => version++,
  }
}

describe('ItemSession', () => {
  let sessions: ItemSession[] = []
  beforeEach(() => {
    vi.useFakeTimers()
    vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => undefined)
    vi.spyOn(HTMLMediaElement.prototype, 'load').mockImplementation(() => undefined)
    sessions = []
  })
  afterEach(() => {
    sessions.forEach((s) => {
      s.destroy()
    })
    vi.useRealTimers()
    document.body.replaceChildren()
  })
  const track = <T extends { session: ItemSession }>(ctx: T): T => {
    sessions.push(ctx.session)
    return ctx
  }

  it('gives wavesurfer the peaks, the duration and a streaming media element', () => {
    const { ws, press } = track(setup())
    expect(ws.options.peaks).toBe(OVERVIEW.data)
    expect(ws.options.duration).toBe(30)
    // The audio source is set on the first play, not before: opening fetches no audio.
    expect(ws.options.url).toBeUndefined()
    expect(ws.options.media?.getAttribute('src')).toBeNull()
    press({ key: ' ' })
    expect(ws.options.media?.getAttribute('src')).toBe('/api/items/7/audio/')
    expect(ws.options.media?.preload).toBe('metadata')
    expect(ws.options.media?.preservesPitch).toBe(true)
    expect(typeof ws.options.renderFunction).toBe('function')
    // Regions, Hover, Minimap, Zoom; the time ruler is our own (only the notches in view).
    expect(ws.options.plugins?.length).toBeGreaterThanOrEqual(4)
    expect(ws.wrapper.querySelector('[data-testid="timeline"]')).not.toBeNull()
  })

  it('creates a segment with [ and ] at the playhead, then autosaves a second later', async () => {
    const { session, ws, press, all, patches, testid } = track(setup())
    ws.setTime(2)
    press({ key: '[' })
    expect(testid('mark-indicator')?.hidden).toBe(false)
    ws.setTime(3.5)
    press({ key: ']' })
    expect(all('segment-row').map((r) => r.textContent)).toEqual([expect.stringContaining('0:02.000 – 0:03.500')])
    expect(session.getSelection()?.kind).toBe('segment')
    expect(testid('save-status')?.dataset.state).toBe('pending')
    await vi.advanceTimersByTimeAsync(999)
    expect(patches()).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(patches()).toHaveLength(1)
    expect(patches()[0]?.body).toEqual({
      version: 3,
      clip_labels: {},
      segments: [{ start_s: 2, end_s: 3.5, label: 'dog' }],
      lead_time_s: expect.any(Number) as number,
    })
    expect(testid('save-status')?.dataset.state).toBe('saved')
  })

  it('labels, nudges, deletes and undoes from the keyboard', () => {
    const { session, ws, press, all } = track(setup())
    ws.setTime(1)
    press({ key: '[' })
    ws.setTime(2)
    press({ key: ']' })
    press({ key: '2' })
    expect(all('segment-row')[0]?.dataset.label).toBe('bird')
    expect(session.getActiveLabel()).toBe('bird')
    press({ key: '.', code: 'Period' })
    press({ key: '>', code: 'Period', shiftKey: true })
    press({ key: '≥', code: 'Period', altKey: true })
    expect(all('segment-row')[0]?.textContent).toContain('0:01.110 – 0:02.010')
    press({ key: 'Delete' })
    expect(all('segment-row')).toHaveLength(0)
    press({ key: 'z', ctrlKey: true })
    expect(all('segment-row')).toHaveLength(1)
    press({ key: 'Z', ctrlKey: true, shiftKey: true })
    expect(all('segment-row')).toHaveLength(0)
  })

  it('refuses an overlapping segment with a visible message', () => {
    const { ws, press, all, testid } = track(setup())
    ws.setTime(1)
    press({ key: '[' })
    ws.setTime(3)
    press({ key: ']' })
    ws.setTime(2)
    press({ key: '[' })
    ws.setTime(4)
    press({ key: ']' })
    expect(all('segment-row')).toHaveLength(1)
    expect(testid('notice')?.hidden).toBe(false)
    expect(testid('notice')?.textContent).toMatch(/overlap/i)
  })

  it('creates segments from a drag on the waveform, in the active label', () => {
    const { regions, press, all } = track(setup())
    press({ key: '2' })
    regions.dragSelect(4, 5)
    expect(all('segment-row').map((r) => r.dataset.label)).toEqual(['bird'])
  })

  it('selects segments with j / k and seeks to them', () => {
    const { session, ws, press } = track(
      setup({
        server: annotation({
          segments: [
            { start_s: 1, end_s: 2, label: 'dog' },
            { start_s: 5, end_s: 6, label: 'bird' },
          ],
        }),
      }),
    )
    press({ key: 'j' })
    expect(ws.time).toBe(1)
    press({ key: 'j' })
    expect(ws.time).toBe(5)
    press({ key: 'k' })
    expect(ws.time).toBe(1)
    expect(session.getSelection()?.kind).toBe('segment')
    press({ key: 'Escape' })
    expect(session.getSelection()).toBeNull()
  })

  it('never runs shortcuts while typing in a field', () => {
    const { ws, press, all, container } = track(setup())
    const input = document.createElement('input')
    container.append(input)
    ws.setTime(1)
    press({ key: '[' }, input)
    ws.setTime(2)
    press({ key: ']' }, input)
    press({ key: ' ' }, input)
    expect(all('segment-row')).toHaveLength(0)
    expect(ws.playing).toBe(false)
  })

  it('keeps a local draft on every change and restores it after the tab was killed', async () => {
    const storage = memoryStorage()
    const first = setup({ storage })
    first.ws.setTime(1)
    first.press({ key: '[' })
    first.ws.setTime(2)
    first.press({ key: ']' })
    const draft = new DraftStore('alice', storage).load(7)
    expect(draft).toMatchObject({
      annotationId: 12,
      baseVersion: 3,
      content: { segments: [{ start_s: 1, end_s: 2, label: 'dog' }] },
    })
    // The tab dies before the autosave fires.
    first.session.destroy()
    await vi.advanceTimersByTimeAsync(5000)
    expect(first.patches()).toHaveLength(0)

    const second = track(setup({ storage }))
    expect(second.all('segment-row')).toHaveLength(1)
    expect(second.testid('notice')?.textContent).toMatch(/restored/i)
    await vi.advanceTimersByTimeAsync(1000)
    expect(second.patches()[0]?.body).toMatchObject({ version: 3, segments: [{ start_s: 1, end_s: 2, label: 'dog' }] })
    expect(new DraftStore('alice', storage).load(7)).toBeNull()
  })

  it('asks before saving a local draft when the server moved on since', async () => {
    const storage = memoryStorage()
    new DraftStore('alice', storage).save(7, {
      annotationId: 12,
      baseVersion: 2,
      content: { clip_labels: {}, segments: [{ start_s: 1, end_s: 2, label: 'dog' }] },
      leadTimeS: 5,
      savedAt: 0,
    })
    const { testid, patches, all, session } = track(setup({ storage }))
    expect(all('segment-row')).toHaveLength(1)
    expect(testid('conflict-banner')?.hidden).toBe(false)
    expect(testid('save-status')?.dataset.state).toBe('conflict')
    expect(session.getLeadTimeS()).toBeGreaterThanOrEqual(5)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(patches()).toHaveLength(0)
    testid('conflict-keep-mine')?.click()
    await vi.advanceTimersByTimeAsync(0)
    expect(patches()).toHaveLength(1)
    expect(patches()[0]?.body).toMatchObject({ version: 3, segments: [{ start_s: 1, end_s: 2, label: 'dog' }] })
    expect(testid('conflict-banner')?.hidden).toBe(true)
    expect(testid('save-status')?.dataset.state).toBe('saved')
  })

  it('shows the conflict banner on 409 and can load their version (undoably)', async () => {
    const ctx = track(setup())
    ctx.ws.setTime(1)
    ctx.press({ key: '[' })
    ctx.ws.setTime(2)
    ctx.press({ key: ']' })
    ctx.bumpServer() // someone else saved
    ctx.routes['GET /api/annotations/12/'] = annotation({
      version: 4,
      segments: [{ start_s: 8, end_s: 9, label: 'bird' }],
    })
    await vi.advanceTimersByTimeAsync(1000)
    expect(ctx.testid('conflict-banner')?.hidden).toBe(false)
    expect(ctx.testid('save-status')?.dataset.state).toBe('conflict')
    ctx.testid('conflict-load-theirs')?.click()
    await vi.advanceTimersByTimeAsync(0)
    expect(ctx.all('segment-row').map((r) => r.dataset.label)).toEqual(['bird'])
    expect(ctx.testid('conflict-banner')?.hidden).toBe(true)
    expect(ctx.testid('save-status')?.dataset.state).toBe('saved')
    ctx.press({ key: 'z', ctrlKey: true })
    expect(ctx.all('segment-row').map((r) => r.dataset.label)).toEqual(['dog'])
  })

  it('goes offline and retries until the server answers', async () => {
    let fail = 2
    const ctx = track(
      setup({
        patch: (body) => {
          if (fail-- > 0) return new ApiError({ status: 0, code: 'network_error', detail: 'Failed to fetch' })
          return annotation({ version: (body as { version: number }).version + 1 })
        },
      }),
    )
    ctx.press({ key: '[' })
    ctx.ws.setTime(1)
    ctx.press({ key: ']' })
    await vi.advanceTimersByTimeAsync(1000)
    expect(ctx.testid('save-status')?.dataset.state).toBe('offline')
    expect(ctx.testid('save-retry')?.hidden).toBe(false)
    await vi.advanceTimersByTimeAsync(1000)
    await vi.advanceTimersByTimeAsync(2000)
    expect(ctx.patches()).toHaveLength(3)
    expect(ctx.testid('save-status')?.dataset.state).toBe('saved')
  })

  it('will not submit without the required clip labels, then submits and reports done', async () => {
    const { session, press, testid, calls } = track(setup())
    const done = vi.fn()
    session.on('done', done)
    press({ key: 'Enter', ctrlKey: true })
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.some((c) => c.path.endsWith('/submit/'))).toBe(false)
    expect(testid('notice')?.textContent).toMatch(/scene/)
    expect(testid('clip-group-error')?.hidden).toBe(false)
    press({ key: '¡', code: 'Digit1', altKey: true })
    press({ key: 'Enter', ctrlKey: true })
    await vi.advanceTimersByTimeAsync(0)
    const submit = calls.find((c) => c.path.endsWith('/submit/'))
    // The content (and lead time) is saved first, then submitted with the version that returned.
    expect(calls.filter((c) => c.method === 'PATCH').at(-1)?.body).toMatchObject({ clip_labels: { scene: ['street'] } })
    expect(submit?.body).toEqual({ version: 4 })
    expect(done).toHaveBeenCalledWith('submitted')
  })

  it('skips with Ctrl+Shift+S', async () => {
    const { session, press, calls } = track(setup())
    const done = vi.fn()
    session.on('done', done)
    press({ key: 'S', ctrlKey: true, shiftKey: true })
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/items/7/skip/')).toBe(true)
    expect(done).toHaveBeenCalledWith('skipped')
  })

  it('shows suggestions, accepts one with a and rejects one with Delete (remembered)', () => {
    const storage = memoryStorage()
    const prediction = {
      id: 1,
      model_version: 1,
      clip_scores: { scene: { street: 0.8, park: 0.2 } },
      segments: [
        { start_s: 1, end_s: 2, label: 'dog', score: 0.9 },
        { start_s: 4, end_s: 5, label: 'bird', score: 0.3 },
      ],
    }
    const ctx = track(setup({ prediction, storage }))
    expect(ctx.all('prediction-row')).toHaveLength(2)
    ctx.press({ key: 'j' })
    ctx.press({ key: 'a' })
    expect(ctx.all('segment-row').map((r) => r.dataset.label)).toEqual(['dog'])
    ctx.press({ key: 'j' })
    ctx.press({ key: 'j' })
    ctx.press({ key: 'Delete' })
    expect(ctx.all('prediction-row')).toHaveLength(0)
    ctx.session.destroy()
    // Reopened: the rejected one stays away, the accepted one is a segment, not a suggestion.
    const again = track(
      setup({ prediction, storage, server: annotation({ segments: [{ start_s: 1, end_s: 2, label: 'dog' }] }) }),
    )
    expect(again.all('prediction-row')).toHaveLength(0)
  })

  it('changes rate with pitch kept, and zooms with + / − between fit and ~8 ms per pixel', () => {
    const { ws, press, testid } = track(setup())
    press({ key: 'ArrowUp' })
    expect(ws.setPlaybackRate).toHaveBeenLastCalledWith(1.25, true)
    for (let i = 0; i < 12; i++) press({ key: 'ArrowDown' })
    expect(ws.setPlaybackRate).toHaveBeenLastCalledWith(0.25, true)
    press({ key: '+' })
    expect(ws.minPxPerSec).toBeCloseTo((1000 / 30) * 2)
    for (let i = 0; i < 10; i++) press({ key: '+' })
    expect(ws.minPxPerSec).toBe(128)
    press({ key: 'z' })
    expect(ws.minPxPerSec).toBe(0)
    expect(testid('zoom-slider')).not.toBeNull()
  })

  it('toggles the help overlay with ?', () => {
    const { press, testid } = track(setup())
    press({ key: '?', shiftKey: true })
    expect(testid('help-overlay')?.hidden).toBe(false)
    expect(testid('help-overlay')?.textContent).toContain('Mark a segment start')
    press({ key: 'Escape' })
    expect(testid('help-overlay')?.hidden).toBe(true)
  })

  it('counts lead time and sends it', async () => {
    const { session, ws, press, patches } = track(setup({ server: annotation({ lead_time_s: 30 }) }))
    expect(session.getLeadTimeS()).toBeGreaterThanOrEqual(30)
    ws.setTime(1)
    press({ key: '[' })
    ws.setTime(2)
    press({ key: ']' })
    await vi.advanceTimersByTimeAsync(1000)
    expect((patches()[0]?.body as { lead_time_s: number }).lead_time_s).toBeGreaterThanOrEqual(30)
  })

  it('renews my lease on the item at once and every minute, and stops when I submit', async () => {
    const ctx = track(setup({ lease: () => ({ expires_at: '2026-11-21T08:05:00Z' }) }))
    const leases = () => ctx.calls.filter((c) => c.path === '/api/items/7/lease/')
    await vi.advanceTimersByTimeAsync(0)
    expect(leases()).toHaveLength(1)
    expect(leases()[0]?.method).toBe('POST')
    expect(ctx.testid('annotator-session')?.dataset.lease).toBe('held')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(leases()).toHaveLength(2)
    ctx.press({ key: '¡', code: 'Digit1', altKey: true })
    ctx.press({ key: 'Enter', ctrlKey: true })
    await vi.advanceTimersByTimeAsync(0)
    expect(ctx.calls.some((c) => c.path.endsWith('/submit/'))).toBe(true)
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(leases()).toHaveLength(2)
  })

  it('shows a failed renewal as a notice and goes on working', async () => {
    let answer: () => unknown = () => ({ expires_at: '2026-11-21T08:05:00Z' })
    const ctx = track(setup({ lease: () => answer() }))
    await vi.advanceTimersByTimeAsync(0)
    expect(ctx.testid('notice')?.hidden).toBe(true)
    answer = () => new ApiError({ status: 0, code: 'network_error', detail: 'Failed to fetch' })
    await vi.advanceTimersByTimeAsync(60_000)
    expect(ctx.testid('annotator-session')?.dataset.lease).toBe('offline')
    expect(ctx.testid('notice')?.hidden).toBe(false)
    expect(ctx.testid('notice')?.dataset.kind).toBe('error')
    expect(ctx.testid('notice')?.textContent).toMatch(/could not renew your hold.*cannot be reached/i)
    // Work goes on: a segment is made and saved while the lease is failing.
    ctx.press({ key: '[' })
    ctx.ws.setTime(1)
    ctx.press({ key: ']' })
    await vi.advanceTimersByTimeAsync(1000)
    expect(ctx.patches()).toHaveLength(1)
    expect(ctx.testid('save-status')?.dataset.state).toBe('saved')
    // The server is back but the lease went to someone else meanwhile.
    answer = () => new ApiError({ status: 409, code: 'conflict', detail: 'no lease held' })
    await vi.advanceTimersByTimeAsync(15_000)
    expect(ctx.testid('annotator-session')?.dataset.lease).toBe('lost')
    expect(ctx.testid('notice')?.textContent).toMatch(/expired/i)
  })

  it('says nothing when the item was opened without a lease, and asks for none on submitted work', async () => {
    const ctx = track(setup({ lease: () => new ApiError({ status: 404, code: 'not_found', detail: 'no lease' }) }))
    await vi.advanceTimersByTimeAsync(0)
    expect(ctx.testid('annotator-session')?.dataset.lease).toBe('lost')
    expect(ctx.testid('notice')?.hidden).toBe(true)
    const done = track(setup({ server: annotation({ state: 'submitted' }), lease: () => ({ expires_at: 'x' }) }))
    await vi.advanceTimersByTimeAsync(60_000)
    expect(done.calls.some((c) => c.path === '/api/items/7/lease/')).toBe(false)
  })

  it('destroy() releases listeners and timers', async () => {
    const { session, ws, press } = setup()
    session.destroy()
    expect(ws.destroy).toHaveBeenCalled()
    press({ key: '[' })
    await vi.advanceTimersByTimeAsync(10_000)
    expect(vi.getTimerCount()).toBe(0)
  })
})
