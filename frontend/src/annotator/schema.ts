import type { LabelSchema } from './types'

/** Fallback colours for segment labels without a valid one */
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324']

/** The schema with every field present (the API may omit defaults) */
export function normalizeSchema(raw: Partial<LabelSchema> | null | undefined): LabelSchema {
  const schema = raw ?? {}
  return {
    clip_groups: (schema.clip_groups ?? []).map((g) => ({
      name: g.name,
      choice: g.choice === 'multi' ? 'multi' : 'single',
      labels: [...g.labels],
      required: Boolean(g.required),
    })),
    segment_labels: (schema.segment_labels ?? []).map((s, i) => ({
      name: s.name,
      color: /^#[0-9a-f]{6}$/i.test(s.color) ? s.color : (PALETTE[i % PALETTE.length] ?? '#4363d8'),
      hotkey: s.hotkey ?? '',
    })),
    segments_overlap: schema.segments_overlap ?? true,
    segment_frequency: schema.segment_frequency ?? false,
    segment_text: schema.segment_text ?? false,
  }
}

/** "#rrggbb" plus an alpha in [0, 1] as "rgba(r, g, b, a)" */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  if (!m) return `rgba(67, 99, 216, ${alpha})`
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h ?? '0', 16))
  return `rgba(${r ?? 0}, ${g ?? 0}, ${b ?? 0}, ${alpha})`
}
