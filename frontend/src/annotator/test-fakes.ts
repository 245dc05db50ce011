/**
 * Fakes for the annotator's DOM tests: WaveSurfer, the Regions plugin and the API client.
 * (Not a test file; imported by them.)
 */
import { vi } from 'vitest'
import type { WaveSurferEvents, WaveSurferOptions } from 'wavesurfer.js'
import type { Region, RegionParams } from 'wavesurfer.js/dist/plugins/regions.js'

import { ApiError, type Peaks, type Query } from '../api/client'
import EventEmitter from '../common/event-emitter'
import type { RegionsLike } from './region-sync'
import type { SessionClient, WaveSurferLike } from './session'
import type { AnnotatorItem } from './types'

/** Stands in for WaveSurfer: a playhead, a zoom level, events the test fires */
export class FakeWaveSurfer extends EventEmitter<WaveSurferEvents> implements WaveSurferLike {
  time = 0
  playing = false
  minPxPerSec = 0
  readonly wrapper = document.createElement('div')
  readonly destroy = vi.fn(() => {
    this.unAll()
  })
  readonly setPlaybackRate = vi.fn()
  readonly setVolume = vi.fn()
  readonly setOptions = vi.fn()
  readonly setScrollTime = vi.fn()
  readonly play = vi.fn((start?: number) => {
    if (start !== undefined) this.time = start
    this.playing = true
    return Promise.resolve()
  })

  constructor(readonly options: WaveSurferOptions) {
    super()
  }

  fire<E extends keyof WaveSurferEvents>(event: E, ...args: WaveSurferEvents[E]) {
    this.emit(event, ...args)
  }
  pause() {
    this.playing = false
  }
  playPause() {
    this.playing = !this.playing
    return Promise.resolve()
  }
  isPlaying() {
    return this.playing
  }
  getCurrentTime() {
    return this.time
  }
  setTime(t: number) {
    this.time = t
    this.emit('timeupdate', t)
  }
  getDuration() {
    return this.options.duration ?? 0
  }
  zoom(px: number) {
    this.minPxPerSec = px
    this.emit('zoom', px)
  }
  getWidth() {
    return 1000
  }
  getScroll() {
    return 0
  }
  getWrapper() {
    return this.wrapper
  }
}

type RegionEventsLike = {
  'region-created': [region: Region]
  'region-updated': [region: Region]
  'region-clicked': [region: Region, e: MouseEvent]
  'region-double-clicked': [region: Region, e: MouseEvent]
}

/** A region: its element, its span, setOptions and remove */
export type FakeRegion = Region & { removed: boolean }

/** Stands in for the Regions plugin */
export class FakeRegions extends EventEmitter<RegionEventsLike> implements RegionsLike {
  readonly regions = new Map<string, FakeRegion>()
  readonly addRegion = vi.fn((params: RegionParams): Region => {
    const region = this.make(params)
    this.emit('region-created', region)
    return region
  })
  readonly enableDragSelection = vi.fn(() => () => undefined)
  readonly destroy = vi.fn()
  private counter = 0

  /** Someone drags out a new span on the waveform */
  dragSelect(start: number, end: number): FakeRegion {
    const region = this.make({ id: `region-tmp-${++this.counter}`, start, end })
    this.emit('region-created', region)
    return region
  }

  /** Someone drags or resizes a region */
  move(id: string, start: number, end: number) {
    const region = this.regions.get(id)
    if (!region) throw new Error(`no region ${id}`)
    region.start = start
    region.end = end
    this.emit('region-updated', region)
  }

  /** Someone clicks a region */
  click(id: string) {
    const region = this.regions.get(id)
    if (!region) throw new Error(`no region ${id}`)
    this.emit('region-clicked', region, new MouseEvent('click'))
  }

  private make(params: RegionParams): FakeRegion {
    const element = document.createElement('div')
    const region = {
      id: params.id ?? `r${++this.counter}`,
      start: params.start,
      end: params.end ?? params.start,
      color: params.color ?? '',
      element,
      removed: false,
      setOptions: vi.fn((o: Partial<RegionParams>) => {
        if (o.start !== undefined) region.start = o.start
        if (o.end !== undefined) region.end = o.end
        if (o.color !== undefined) region.color = o.color
      }),
      remove: vi.fn(() => {
        region.removed = true
        this.regions.delete(region.id)
      }),
    }
    this.regions.set(region.id, region as unknown as FakeRegion)
    return region as unknown as FakeRegion
  }
}

type Handler = (body: unknown, query: Query | undefined) => unknown

/** A fake API client: routes "METHOD /path" to handlers; records every call */
export function fakeClient(routes: Record<string, unknown>) {
  const calls: Array<{ method: string; path: string; body?: unknown; query?: Query | undefined }> = []
  const respond = <T>(method: string, path: string, body: unknown, query?: Query): Promise<T> => {
    calls.push({ method, path, body, query })
    const route = routes[`${method} ${path}`]
    if (route === undefined) {
      return Promise.reject(new ApiError({ status: 404, code: 'not_found', detail: `no route ${method} ${path}` }))
    }
    try {
      const value = typeof route === 'function' ? (route as Handler)(body, query) : route
      if (value instanceof Error) return Promise.reject(value)
      return Promise.resolve(structuredClone(value as T))
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }
  const client: SessionClient = {
    url: (path: string, query?: Query) => {
      const search = query
        ? `?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString()}`
        : ''
      return `${path}${search}`
    },
    get: <T>(path: string, query?: Query) => respond<T>('GET', path, undefined, query),
    post: <T>(path: string, body: unknown) => respond<T>('POST', path, body),
    patch: <T>(path: string, body: unknown) => respond<T>('PATCH', path, body),
  }
  return { client, calls, routes }
}

/** A Map-backed localStorage */
export function memoryStorage() {
  const data = new Map<string, string>()
  return {
    data,
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => {
      data.set(k, v)
    },
    removeItem: (k: string) => {
      data.delete(k)
    },
  }
}

/** An item as the item endpoint sends it: 10 s mono, one peaks level, unless overridden */
export function makeItem(id: number, overrides: Partial<AnnotatorItem> = {}): AnnotatorItem {
  return {
    id,
    project: 1,
    original_name: `rec${id}.wav`,
    state: 'ready',
    error: null,
    duration_s: 10,
    sample_rate_hz: 16000,
    channels: 1,
    format: 'wav',
    size_bytes: 1,
    sha256: null,
    created_at: '',
    peaks_levels: [256],
    ...overrides,
  }
}

/** A 30 s mono item with two peaks levels, as the item endpoint sends it */
export const ITEM: AnnotatorItem = makeItem(7, {
  original_name: 'dawn.wav',
  duration_s: 30,
  peaks_levels: [256, 1024],
})

/** The overview peaks of ITEM */
export const OVERVIEW: Peaks = {
  duration_s: 30,
  sample_rate_hz: 16000,
  channels: 1,
  samples_per_bin: 1024,
  start_s: 0,
  end_s: 30,
  data: [[-0.1, 0.1, -0.2, 0.2]],
}
