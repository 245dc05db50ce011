/** Small DOM helpers for the annotator's views */

type Attrs = Record<string, string | number | boolean | null | undefined>

/**
 * Creates an element: `attrs` keys starting with "data-" or "aria-" and plain attributes are
 * set as attributes ("class" too); `false`/null/undefined values are skipped; children are
 * nodes or text.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Attrs = {},
  children: Array<Node | string | null | undefined | false> = [],
): HTMLElementTagNameMap[K] {
  const el = doc.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue
    el.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(child)
  }
  return el
}

/** Seconds as m:ss.mmm (or h:mm:ss.mmm) */
export function formatTimeMs(seconds: number): string {
  const totalMs = Math.max(0, Math.round(seconds * 1000))
  const ms = totalMs % 1000
  const total = Math.floor(totalMs / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const tail = `${String(s).padStart(2, '0')}.${String(ms).padStart(3, '0')}`
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${tail}` : `${m}:${tail}`
}

/** Parses "75.5", "1:15.5" or "1:01:15.5" into seconds; NaN when unreadable */
export function parseTime(text: string): number {
  const trimmed = text.trim()
  if (!trimmed) return NaN
  const parts = trimmed.split(':')
  if (parts.length > 3 || parts.some((p) => !/^\d*(\.\d*)?$/.test(p) || p === '' || p === '.')) return NaN
  return parts.reduce((total, part) => total * 60 + Number(part), 0)
}
