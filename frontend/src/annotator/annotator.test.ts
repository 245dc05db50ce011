// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WaveSurferOptions } from 'wavesurfer.js'

import { ApiError } from '../api/client'
import { Annotator } from './annotator'
import { mountAnnotator, readConfig } from './mount'
import { fakeClient, FakeRegions, FakeWaveSurfer, makeItem, memoryStorage } from './test-fakes'
import type { AnnotatorConfig } from './types'

const PROJECT = {
  id: 1,
  name: 'Birds',
  instructions: '',
  my_role: 'annotator',
  label_schema: {
    clip_groups: [],
    segment_labels: [{ name: 'dog', color: '#e6194b', hotkey: '1' }],
    segments_overlap: true,
    segment_frequency: false,
    segment_text: false,
  },
}

const peaks = {
  duration_s: 10,
  sample_rate_hz: 16000,
  channels: 1,
  samples_per_bin: 256,
  start_s: 0,
  end_s: 10,
  data: [[0, 0.1]],
}
const annotation = (id: number, itemId: number) => ({
  id,
  item: itemId,
  state: 'draft',
  clip_labels: {},
  segments: [],
  lead_time_s: 0,
  version: 1,
})

const CONFIG: AnnotatorConfig = {
  projectId: 1,
  itemId: null,
  username: 'alice',
  urls: { project: '/projects/1/', itemAnnotate: '/items/{id}/annotate/' },
}

function routesFor(queue: number[]) {
  return {
    'GET /api/projects/1/': PROJECT,
    'GET /api/projects/1/next-item/': () => {
      const next = queue.shift()
      return next ? { item: makeItem(next), annotation: null } : { item: null, annotation: null }
    },
    'GET /api/items/7/': makeItem(7),
    'GET /api/items/8/': makeItem(8),
    'POST /api/items/7/annotations/': annotation(70, 7),
    'POST /api/items/8/annotations/': annotation(80, 8),
    'GET /api/items/7/peaks/': peaks,
    'GET /api/items/8/peaks/': peaks,
    'GET /api/items/7/predictions/': { next: null, previous: null, results: [] },
    'GET /api/items/8/predictions/': { next: null, previous: null, results: [] },
    'POST /api/annotations/70/submit/': { ...annotation(70, 7), state: 'submitted', version: 3 },
    'PATCH /api/annotations/70/': { ...annotation(70, 7), version: 2 },
  }
}

function setup(routes: Record<string, unknown>, config: Partial<AnnotatorConfig> = {}) {
  const { client, calls } = fakeClient(routes)
  const container = document.createElement('div')
  document.body.append(container)
  const history = { replaceState: vi.fn() }
  const waves: FakeWaveSurfer[] = []
  const annotator = new Annotator({
    container,
    client,
    config: { ...CONFIG, ...config },
    storage: memoryStorage(),
    history,
    pollIntervalMs: 2000,
    createWaveSurfer: (o: WaveSurferOptions) => {
      const ws = new FakeWaveSurfer(o)
      waves.push(ws)
      return ws
    },
    createRegions: () => new FakeRegions(),
  })
  const message = () => container.querySelector('[data-testid="annotator-state"]')?.textContent ?? ''
  return { annotator, calls, history, container, waves, message }
}

describe('Annotator', () => {
  let annotators: Annotator[] = []
  beforeEach(() => {
    vi.useFakeTimers()
    vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => undefined)
    vi.spyOn(HTMLMediaElement.prototype, 'load').mockImplementation(() => undefined)
    annotators = []
  })
  afterEach(() => {
    annotators.forEach((a) => {
      a.destroy()
    })
    vi.useRealTimers()
    document.body.replaceChildren()
  })
  const track = <T extends { annotator: Annotator }>(ctx: T) => {
    annotators.push(ctx.annotator)
    return ctx
  }

  it('opens the next item of my queue and puts its address in the URL', async () => {
    const { annotator, history, container, calls } = track(setup(routesFor([7])))
    await vi.advanceTimersByTimeAsync(0)
    expect(annotator.getState()).toBe('ready')
    expect(container.querySelector('[data-testid="item-name"]')?.textContent).toBe('rec7.wav')
    expect(history.replaceState).toHaveBeenLastCalledWith(null, '', '/items/7/annotate/')
    // The draft is started (or fetched) with POST; the spectrogram is optional (404 here).
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(
      expect.arrayContaining(['POST /api/items/7/annotations/', 'GET /api/items/7/spectrogram/info/']),
    )
    expect(container.querySelector('[data-testid="annotator-session"]')).not.toBeNull()
  })

  it('moves on to the next item after submit, without a page load', async () => {
    const { annotator, history, container } = track(setup(routesFor([7, 8])))
    await vi.advanceTimersByTimeAsync(0)
    await annotator.getSession()?.submit()
    await vi.advanceTimersByTimeAsync(0)
    expect(container.querySelector('[data-testid="item-name"]')?.textContent).toBe('rec8.wav')
    expect(history.replaceState).toHaveBeenLastCalledWith(null, '', '/items/8/annotate/')
  })

  it('says so when the queue is empty', async () => {
    const { annotator, message, container } = track(setup(routesFor([])))
    await vi.advanceTimersByTimeAsync(0)
    expect(annotator.getState()).toBe('empty')
    expect(message()).toMatch(/nothing left for you in this project/i)
    expect(container.querySelector('[data-testid="queue-empty"]')).not.toBeNull()
    expect(container.querySelector<HTMLAnchorElement>('[data-testid="back-to-project"]')?.getAttribute('href')).toBe(
      '/projects/1/',
    )
  })

  it('waits while the item is processed, polling', async () => {
    const routes: Record<string, unknown> = routesFor([])
    let polls = 0
    routes['GET /api/items/7/'] = () => (++polls < 3 ? makeItem(7, { state: 'pending' }) : makeItem(7))
    const { annotator, message } = track(setup(routes, { itemId: 7 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(annotator.getState()).toBe('pending')
    expect(message()).toMatch(/still being processed/)
    await vi.advanceTimersByTimeAsync(2000)
    expect(polls).toBe(2)
    await vi.advanceTimersByTimeAsync(2000)
    expect(annotator.getState()).toBe('ready')
  })

  it('shows why an item failed', async () => {
    const routes: Record<string, unknown> = routesFor([])
    routes['GET /api/items/7/'] = makeItem(7, { state: 'failed', error: 'corrupt or truncated audio' })
    const { annotator, message, container } = track(setup(routes, { itemId: 7 }))
    await vi.advanceTimersByTimeAsync(0)
    expect(annotator.getState()).toBe('failed')
    expect(message()).toContain('corrupt or truncated audio')
    expect(container.querySelector('[data-testid="item-failed"]')).not.toBeNull()
  })

  it('explains errors and offers to try again', async () => {
    const routes: Record<string, unknown> = routesFor([])
    routes['GET /api/projects/1/'] = new ApiError({ status: 0, code: 'network_error', detail: 'Failed to fetch' })
    const { annotator, message, container } = track(setup(routes))
    await vi.advanceTimersByTimeAsync(0)
    expect(annotator.getState()).toBe('error')
    expect(message()).toMatch(/cannot be reached/)
    expect(container.querySelector('[data-testid="retry"]')).not.toBeNull()
  })
})

describe('mounting', () => {
  afterEach(() => {
    document.body.replaceChildren()
    document.head.replaceChildren()
  })

  function page(config: unknown) {
    document.body.innerHTML = `
      <script id="earmark-annotator-config" type="application/json">${JSON.stringify(config)}</script>
      <div data-earmark-annotator data-config-id="earmark-annotator-config"></div>`
    const mount = document.querySelector<HTMLElement>('[data-earmark-annotator]')
    if (!mount) throw new Error('no mount point')
    return mount
  }

  it('reads the json_script config', () => {
    const mount = page({ ...CONFIG, itemId: 9 })
    expect(readConfig(document, mount)).toEqual({ ...CONFIG, itemId: 9 })
  })

  it('refuses a missing or malformed config', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    expect(readConfig(document, page({ projectId: 'x' }))).toBeNull()
    expect(readConfig(document, page({ projectId: 1, itemId: -3 }))).toBeNull()
    document.body.innerHTML = '<div data-earmark-annotator></div>'
    const bare = document.querySelector<HTMLElement>('div')
    if (!bare) throw new Error('no div')
    expect(readConfig(document, bare)).toBeNull()
    expect(warn).toHaveBeenCalled()
  })

  it('mounts once', () => {
    vi.useFakeTimers()
    page(CONFIG)
    const { client } = fakeClient({})
    const first = mountAnnotator(document, client, { storage: null, history: null })
    expect(first).not.toBeNull()
    expect(mountAnnotator(document, client)).toBeNull()
    first?.destroy()
    vi.useRealTimers()
  })
})
