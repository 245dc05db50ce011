/**
 * Spectrogram rendering settings: the server's defaults, overridden by what the person chose
 * last (kept in localStorage, shared by every item).
 */
import type { StorageLike } from '../drafts'
import type { SpectrogramInfo, SpectrogramSettings } from '../types'

export const SETTINGS_KEY = 'earmark:spectrogram:v1'

/** Lowest and highest dB a setting may take (the server's `db_limits` when it gives them) */
export const DB_LIMITS = { min: -160, max: 20 } as const

type InfoLike = Pick<SpectrogramInfo, 'scales' | 'n_ffts' | 'cmaps' | 'defaults' | 'db_limits'>

function dbLimits(info: InfoLike): { min: number; max: number } {
  const [min, max] = info.db_limits ?? [DB_LIMITS.min, DB_LIMITS.max]
  return min < max ? { min, max } : DB_LIMITS
}

const FALLBACK: SpectrogramSettings = { scale: 'mel', n_fft: 1024, db_min: -90, db_max: -10, cmap: 'viridis' }

function pick<T>(value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value !== undefined && allowed.includes(value)) return value
  return allowed.includes(fallback) ? fallback : (allowed[0] ?? fallback)
}

/** The server's defaults, completed with fallbacks and kept inside the offered choices */
export function defaultSettings(info: InfoLike): SpectrogramSettings {
  const d = info.defaults ?? {}
  return clampSettings(
    {
      scale: d.scale ?? FALLBACK.scale,
      n_fft: d.n_fft ?? FALLBACK.n_fft,
      db_min: d.db_min ?? FALLBACK.db_min,
      db_max: d.db_max ?? FALLBACK.db_max,
      cmap: d.cmap ?? FALLBACK.cmap,
    },
    info,
  )
}

/** `settings` with every field valid for `info` (unknown choices fall back, dB ordered) */
export function clampSettings(settings: Partial<SpectrogramSettings>, info: InfoLike): SpectrogramSettings {
  const d = info.defaults ?? {}
  const num = (v: unknown, f: number) => (typeof v === 'number' && Number.isFinite(v) ? v : f)
  const limits = dbLimits(info)
  let dbMin = Math.min(Math.max(num(settings.db_min, d.db_min ?? FALLBACK.db_min), limits.min), limits.max - 1)
  let dbMax = Math.min(Math.max(num(settings.db_max, d.db_max ?? FALLBACK.db_max), limits.min + 1), limits.max)
  if (dbMin >= dbMax) {
    dbMin = d.db_min ?? FALLBACK.db_min
    dbMax = d.db_max ?? FALLBACK.db_max
  }
  return {
    scale: pick(settings.scale, info.scales, d.scale ?? FALLBACK.scale),
    n_fft: pick(settings.n_fft, info.n_ffts, d.n_fft ?? FALLBACK.n_fft),
    db_min: dbMin,
    db_max: dbMax,
    cmap: pick(settings.cmap, info.cmaps, d.cmap ?? FALLBACK.cmap),
  }
}

/** The stored choices over the defaults */
export function loadSettings(storage: StorageLike | null, info: InfoLike): SpectrogramSettings {
  const defaults = defaultSettings(info)
  let raw: string | null
  try {
    raw = storage?.getItem(SETTINGS_KEY) ?? null
  } catch {
    raw = null
  }
  if (!raw) return defaults
  try {
    const stored = JSON.parse(raw) as Partial<SpectrogramSettings>
    return clampSettings({ ...defaults, ...stored }, info)
  } catch {
    return defaults
  }
}

/** Remembers the choices */
export function saveSettings(storage: StorageLike | null, settings: SpectrogramSettings): void {
  try {
    storage?.setItem(SETTINGS_KEY, JSON.stringify(settings))
  } catch {
    // Storage full or disabled: the choice lasts for this page only.
  }
}

/** The tile endpoint's query for `settings` */
export function settingsQuery(settings: SpectrogramSettings): Record<string, string | number> {
  return {
    scale: settings.scale,
    n_fft: settings.n_fft,
    db_min: settings.db_min,
    db_max: settings.db_max,
    cmap: settings.cmap,
  }
}
