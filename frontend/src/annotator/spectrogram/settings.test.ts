import { describe, expect, it } from 'vitest'

import type { StorageLike } from '../drafts'
import { clampSettings, defaultSettings, loadSettings, saveSettings, SETTINGS_KEY, settingsQuery } from './settings'

const INFO = {
  scales: ['mel', 'linear'],
  n_ffts: [512, 1024, 2048],
  cmaps: ['viridis', 'magma', 'gray'],
  defaults: { scale: 'mel', n_fft: 1024, db_min: -80, db_max: 0, cmap: 'magma' },
}

function storage(initial: Record<string, string> = {}): StorageLike & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial))
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      data.set(k, v)
    },
    removeItem: (k) => {
      data.delete(k)
    },
  }
}

describe('spectrogram settings', () => {
  it('start from the server defaults', () => {
    expect(defaultSettings(INFO)).toEqual(INFO.defaults)
    expect(defaultSettings({ ...INFO, defaults: {} })).toEqual({
      scale: 'mel',
      n_fft: 1024,
      db_min: -90,
      db_max: -10,
      cmap: 'viridis',
    })
  })

  it('are remembered in localStorage and restored', () => {
    const s = storage()
    const chosen = { scale: 'linear', n_fft: 2048, db_min: -100, db_max: -10, cmap: 'gray' }
    saveSettings(s, chosen)
    expect(JSON.parse(s.data.get(SETTINGS_KEY) ?? '{}')).toEqual(chosen)
    expect(loadSettings(s, INFO)).toEqual(chosen)
  })

  it('fall back for choices the server no longer offers, bad JSON or a reversed dB range', () => {
    expect(loadSettings(storage({ [SETTINGS_KEY]: '{oops' }), INFO)).toEqual(INFO.defaults)
    expect(loadSettings(storage({ [SETTINGS_KEY]: JSON.stringify({ cmap: 'jet', n_fft: 4096 }) }), INFO)).toEqual(
      INFO.defaults,
    )
    expect(clampSettings({ ...INFO.defaults, db_min: 10, db_max: -10 }, INFO)).toMatchObject({ db_min: -80, db_max: 0 })
    expect(clampSettings({ ...INFO.defaults, db_min: -999, db_max: 999 }, INFO)).toMatchObject({
      db_min: -160,
      db_max: 20,
    })
    // The server's limits win.
    expect(
      clampSettings({ ...INFO.defaults, db_min: -999, db_max: 999 }, { ...INFO, db_limits: [-120, 0] }),
    ).toMatchObject({
      db_min: -120,
      db_max: 0,
    })
    expect(loadSettings(null, INFO)).toEqual(INFO.defaults)
  })

  it('become the tile query', () => {
    expect(settingsQuery(INFO.defaults)).toEqual({ scale: 'mel', n_fft: 1024, db_min: -80, db_max: 0, cmap: 'magma' })
  })
})
