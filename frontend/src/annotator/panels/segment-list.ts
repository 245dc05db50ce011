/**
 * SegmentList: every segment in time order (click a row to select it, jump there and play it),
 * with an editor in the selected row (start, end, label, frequency band, text) and a delete
 * button; below, the model's pending suggestions with accept / reject.
 *
 * Rows are keyed by segment id and only the rows a change names are touched; rows are moved
 * only when their order changed. Nothing reads layout while writing.
 */
import { h, formatTimeMs, parseTime } from '../dom'
import type { AnnotationModel, EditResult, ModelChange, PredictedSegment, Segment, SegmentPatch } from '../model'
import type { LabelSchema } from '../types'

export type SegmentListOptions = {
  /** Where the list is drawn (its content is replaced) */
  container: HTMLElement
  /** The model */
  model: AnnotationModel
  /** The label schema */
  schema: LabelSchema
  /** Colour of a label */
  colorOf: (label: string) => string
  /** A row was clicked: select it, jump there and play */
  onActivate: (id: string, kind: 'segment' | 'prediction') => void
  /** Delete a segment */
  onDelete: (id: string) => void
  /** Apply an edit from the editor; the result's reason is shown when refused */
  onEdit: (id: string, patch: SegmentPatch) => EditResult<Segment>
  /** Accept a suggestion */
  onAccept: (id: string) => void
  /** Reject a suggestion */
  onReject: (id: string) => void
  /** Accept every suggestion */
  onAcceptAll: () => void
}

export class SegmentList {
  private readonly options: SegmentListOptions
  private readonly doc: Document
  private readonly listEl: HTMLElement
  private readonly countEl: HTMLElement
  private readonly emptyEl: HTMLElement
  private readonly predictionsEl: HTMLElement
  private readonly predictionsListEl: HTMLElement
  private readonly predictionsCountEl: HTMLElement
  private readonly rows = new Map<string, HTMLElement>()
  private readonly predictionRows = new Map<string, HTMLElement>()
  private selected: string | null = null
  private editor: HTMLElement | null = null
  private readonly cleanups: Array<() => void> = []

  constructor(options: SegmentListOptions) {
    this.options = options
    this.doc = options.container.ownerDocument
    const doc = this.doc
    this.countEl = h(doc, 'span', { class: 'em-muted', 'data-testid': 'segment-count' })
    this.listEl = h(doc, 'ol', { class: 'em-seglist', 'data-testid': 'segment-list' })
    this.emptyEl = h(doc, 'p', { class: 'em-muted em-seglist__empty' }, [
      'No segments yet. Drag on the waveform, or press [ and ] at the playhead.',
    ])
    this.predictionsCountEl = h(doc, 'span', { class: 'em-muted' })
    this.predictionsListEl = h(doc, 'ol', {
      class: 'em-seglist em-seglist--predictions',
      'data-testid': 'prediction-list',
    })
    const acceptAll = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--small', 'data-testid': 'predictions-accept-all' },
      ['Accept all'],
    )
    this.predictionsEl = h(
      doc,
      'section',
      { class: 'em-predictions', 'data-testid': 'predictions-panel', hidden: true },
      [h(doc, 'h3', {}, ['Suggestions ', this.predictionsCountEl, ' ', acceptAll]), this.predictionsListEl],
    )
    options.container.replaceChildren(
      h(doc, 'h3', {}, ['Segments ', this.countEl]),
      this.emptyEl,
      this.listEl,
      this.predictionsEl,
    )

    const onClick = (event: MouseEvent) => {
      this.onClick(event)
    }
    const onAcceptAll = () => {
      options.onAcceptAll()
    }
    options.container.addEventListener('click', onClick)
    acceptAll.addEventListener('click', onAcceptAll)
    this.cleanups.push(() => {
      options.container.removeEventListener('click', onClick)
      acceptAll.removeEventListener('click', onAcceptAll)
    })
    this.rebuild()
  }

  /** The row of a segment or suggestion */
  getRow(id: string): HTMLElement | undefined {
    return this.rows.get(id) ?? this.predictionRows.get(id)
  }

  /** Builds every row from the model (on open) */
  rebuild(): void {
    this.rows.clear()
    this.predictionRows.clear()
    this.editor = null
    const segments = this.options.model.getSegments().map((s) => {
      const row = this.segmentRow(s)
      this.rows.set(s.id, row)
      return row
    })
    this.listEl.replaceChildren(...segments)
    const predictions = this.options.model.getPredictions().map((p) => {
      const row = this.predictionRow(p)
      this.predictionRows.set(p.id, row)
      return row
    })
    this.predictionsListEl.replaceChildren(...predictions)
    if (this.selected) this.setSelected(this.selected)
    this.updateCounts()
  }

  /** Applies a model change to the rows it names */
  apply(change: ModelChange): void {
    if (change.cause === 'reset') {
      this.rebuild()
      return
    }
    const { model } = this.options
    for (const id of change.removed) {
      this.rows.get(id)?.remove()
      this.rows.delete(id)
      if (this.selected === id) this.editor = null
    }
    for (const id of change.added) {
      const segment = model.getSegment(id)
      if (!segment || this.rows.has(id)) continue
      const row = this.segmentRow(segment)
      this.rows.set(id, row)
      this.listEl.append(row)
    }
    for (const id of change.updated) {
      const segment = model.getSegment(id)
      const row = this.rows.get(id)
      if (!segment || !row) continue
      this.fillSegmentRow(row, segment)
      if (this.selected === id) this.fillEditor(segment)
    }
    if (change.added.length || change.updated.length) this.reorder()
    for (const id of change.predictionsRemoved) {
      this.predictionRows.get(id)?.remove()
      this.predictionRows.delete(id)
    }
    if (change.predictionsAdded.length) {
      for (const id of change.predictionsAdded) {
        const prediction = model.getPrediction(id)
        if (!prediction || this.predictionRows.has(id)) continue
        const row = this.predictionRow(prediction)
        this.predictionRows.set(id, row)
        this.predictionsListEl.append(row)
      }
      this.reorderPredictions()
    }
    if (this.selected && (change.added.includes(this.selected) || change.predictionsAdded.includes(this.selected))) {
      this.setSelected(this.selected)
    }
    this.updateCounts()
  }

  /** Highlights a row, opens its editor (segments) and scrolls it into view */
  setSelected(id: string | null): void {
    const previous = this.selected ? this.getRow(this.selected) : undefined
    previous?.classList.remove('em-seglist__row--selected')
    previous?.setAttribute('aria-selected', 'false')
    this.editor?.remove()
    this.editor = null
    this.selected = id
    if (!id) return
    const row = this.getRow(id)
    if (!row) return
    row.classList.add('em-seglist__row--selected')
    row.setAttribute('aria-selected', 'true')
    const segment = this.options.model.getSegment(id)
    if (segment) {
      this.editor = this.buildEditor(segment)
      row.append(this.editor)
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom has no scrollIntoView
    row.scrollIntoView?.({ block: 'nearest' })
  }

  /** Shows why an edit was refused in the editor */
  showEditError(message: string): void {
    const el = this.editor?.querySelector<HTMLElement>('[data-testid="segment-edit-error"]')
    if (el) {
      el.textContent = message
      el.hidden = !message
    }
  }

  /** Removes listeners and rows */
  destroy(): void {
    this.cleanups.forEach((f) => {
      f()
    })
    this.options.container.replaceChildren()
  }

  private updateCounts() {
    const n = this.rows.size
    this.countEl.textContent = `(${n})`
    this.emptyEl.hidden = n > 0
    const p = this.predictionRows.size
    this.predictionsCountEl.textContent = `(${p})`
    this.predictionsEl.hidden = p === 0
  }

  /** Puts rows in the model's order, moving only those out of place */
  private reorder() {
    this.reorderList(
      this.listEl,
      this.options.model.getSegments().map((s) => s.id),
      this.rows,
    )
  }

  private reorderPredictions() {
    this.reorderList(
      this.predictionsListEl,
      this.options.model.getPredictions().map((p) => p.id),
      this.predictionRows,
    )
  }

  private reorderList(list: HTMLElement, ids: readonly string[], rows: Map<string, HTMLElement>) {
    let cursor = list.firstElementChild
    for (const id of ids) {
      const row = rows.get(id)
      if (!row) continue
      if (row !== cursor) list.insertBefore(row, cursor)
      else cursor = cursor.nextElementSibling
    }
  }

  private segmentRow(segment: Segment): HTMLElement {
    const doc = this.doc
    const row = h(doc, 'li', {
      class: 'em-seglist__row',
      'data-testid': 'segment-row',
      'data-segment-id': segment.id,
      'aria-selected': 'false',
    })
    const main = h(doc, 'div', { class: 'em-seglist__main', 'data-action': 'activate' }, [
      h(doc, 'span', { class: 'em-swatch' }),
      h(doc, 'span', { class: 'em-seglist__label' }),
      h(doc, 'span', { class: 'em-seglist__time' }),
      h(doc, 'span', { class: 'em-seglist__extra em-muted' }),
      h(
        doc,
        'button',
        {
          type: 'button',
          class: 'em-icon-button',
          'data-action': 'delete',
          'data-testid': 'segment-delete',
          title: 'Delete (Del)',
          'aria-label': 'Delete segment',
        },
        ['×'],
      ),
    ])
    row.append(main)
    this.fillSegmentRow(row, segment)
    return row
  }

  private fillSegmentRow(row: HTMLElement, segment: Segment) {
    const [swatch, label, time, extra] = Array.from(row.firstElementChild?.children ?? []) as HTMLElement[]
    if (swatch) swatch.style.background = this.options.colorOf(segment.label)
    if (label) label.textContent = segment.label
    if (time) time.textContent = `${formatTimeMs(segment.start_s)} – ${formatTimeMs(segment.end_s)}`
    if (extra) {
      const parts: string[] = []
      if (segment.low_hz !== null && segment.high_hz !== null)
        parts.push(`${Math.round(segment.low_hz)}–${Math.round(segment.high_hz)} Hz`)
      if (segment.text) parts.push(`“${segment.text.length > 40 ? `${segment.text.slice(0, 40)}…` : segment.text}”`)
      extra.textContent = parts.join(' · ')
    }
    row.dataset.label = segment.label
  }

  private predictionRow(prediction: PredictedSegment): HTMLElement {
    const doc = this.doc
    const row = h(doc, 'li', {
      class: 'em-seglist__row em-seglist__row--prediction',
      'data-testid': 'prediction-row',
      'data-segment-id': prediction.id,
      'aria-selected': 'false',
    })
    const swatch = h(doc, 'span', { class: 'em-swatch em-swatch--dashed' })
    swatch.style.borderColor = this.options.colorOf(prediction.label)
    row.append(
      h(doc, 'div', { class: 'em-seglist__main', 'data-action': 'activate' }, [
        swatch,
        h(doc, 'span', { class: 'em-seglist__label' }, [prediction.label]),
        h(doc, 'span', { class: 'em-seglist__time' }, [
          `${formatTimeMs(prediction.start_s)} – ${formatTimeMs(prediction.end_s)}`,
        ]),
        h(doc, 'span', { class: 'em-seglist__score', 'data-testid': 'prediction-score' }, [
          prediction.score.toFixed(2),
        ]),
        h(
          doc,
          'button',
          {
            type: 'button',
            class: 'em-icon-button em-icon-button--ok',
            'data-action': 'accept',
            'data-testid': 'prediction-accept',
            title: 'Accept (A)',
            'aria-label': 'Accept suggestion',
          },
          ['✓'],
        ),
        h(
          doc,
          'button',
          {
            type: 'button',
            class: 'em-icon-button',
            'data-action': 'reject',
            'data-testid': 'prediction-reject',
            title: 'Reject (Del)',
            'aria-label': 'Reject suggestion',
          },
          ['×'],
        ),
      ]),
    )
    return row
  }

  private onClick(event: MouseEvent) {
    const target = event.target as Element | null
    const row = target?.closest<HTMLElement>('[data-segment-id]')
    const id = row?.dataset.segmentId
    if (!row || !id) return
    const action = target?.closest<HTMLElement>('[data-action]')?.dataset.action
    const kind = row.getAttribute('data-testid') === 'prediction-row' ? 'prediction' : 'segment'
    if (action === 'delete') this.options.onDelete(id)
    else if (action === 'accept') this.options.onAccept(id)
    else if (action === 'reject') this.options.onReject(id)
    else if (action === 'activate') this.options.onActivate(id, kind)
  }

  private buildEditor(segment: Segment): HTMLElement {
    const doc = this.doc
    const { schema } = this.options
    const field = (label: string, input: HTMLElement) =>
      h(doc, 'label', { class: 'em-field' }, [h(doc, 'span', {}, [label]), input])
    const start = h(doc, 'input', {
      type: 'text',
      inputmode: 'decimal',
      'data-testid': 'segment-start-input',
      'data-field': 'start_s',
      size: 10,
    })
    const end = h(doc, 'input', {
      type: 'text',
      inputmode: 'decimal',
      'data-testid': 'segment-end-input',
      'data-field': 'end_s',
      size: 10,
    })
    const label = h(doc, 'select', { 'data-testid': 'segment-label-select', 'data-field': 'label' })
    for (const l of schema.segment_labels) label.append(h(doc, 'option', { value: l.name }, [l.name]))
    const editor = h(doc, 'div', { class: 'em-seglist__editor', 'data-testid': 'segment-editor' }, [
      field('Start', start),
      field('End', end),
      field('Label', label),
    ])
    if (schema.segment_frequency) {
      editor.append(
        field(
          'Low Hz',
          h(doc, 'input', {
            type: 'number',
            min: 0,
            step: 1,
            'data-testid': 'segment-low-input',
            'data-field': 'low_hz',
          }),
        ),
        field(
          'High Hz',
          h(doc, 'input', {
            type: 'number',
            min: 0,
            step: 1,
            'data-testid': 'segment-high-input',
            'data-field': 'high_hz',
          }),
        ),
      )
    }
    if (schema.segment_text) {
      editor.append(
        h(doc, 'label', { class: 'em-field em-field--wide' }, [
          h(doc, 'span', {}, ['Text']),
          h(doc, 'textarea', { rows: 2, 'data-testid': 'segment-text-input', 'data-field': 'text' }),
        ]),
      )
    }
    editor.append(h(doc, 'p', { class: 'em-error', hidden: true, 'data-testid': 'segment-edit-error' }))
    editor.addEventListener('change', (event) => {
      this.commitField(event.target)
    })
    editor.addEventListener('keydown', (event) => {
      const target = event.target
      if (event.key === 'Enter' && !(target instanceof HTMLTextAreaElement)) {
        event.preventDefault()
        this.commitField(target)
      } else if (event.key === 'Escape') {
        event.preventDefault()
        this.fillEditor(this.options.model.getSegment(segment.id) ?? segment, { force: true })
        ;(target as HTMLElement | null)?.blur()
      }
    })
    this.editor = editor
    this.fillEditor(segment)
    return editor
  }

  private fillEditor(segment: Segment, { force = false }: { force?: boolean } = {}) {
    const editor = this.editor
    if (!editor) return
    const set = (field: string, value: string) => {
      const input = editor.querySelector<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(
        `[data-field="${field}"]`,
      )
      // Do not overwrite what the person is typing.
      if (input && (force || input !== this.doc.activeElement) && input.value !== value) input.value = value
    }
    set('start_s', segment.start_s.toFixed(3))
    set('end_s', segment.end_s.toFixed(3))
    set('label', segment.label)
    set('low_hz', segment.low_hz === null ? '' : String(Math.round(segment.low_hz)))
    set('high_hz', segment.high_hz === null ? '' : String(Math.round(segment.high_hz)))
    set('text', segment.text)
  }

  private commitField(target: EventTarget | null) {
    if (!(
      target instanceof HTMLInputElement ||
      target instanceof HTMLSelectElement ||
      target instanceof HTMLTextAreaElement
    ))
      return
    const id = this.selected
    const field = target.dataset.field
    if (!id || !field) return
    const segment = this.options.model.getSegment(id)
    if (!segment) return
    let patch: SegmentPatch
    if (field === 'start_s' || field === 'end_s') {
      const seconds = parseTime(target.value)
      if (Number.isNaN(seconds)) {
        this.showEditError('Write a time in seconds (12.345) or minutes (1:02.5).')
        return
      }
      patch = { [field]: seconds }
    } else if (field === 'low_hz' || field === 'high_hz') {
      const other = field === 'low_hz' ? 'high_hz' : 'low_hz'
      const otherInput = this.editor?.querySelector<HTMLInputElement>(`[data-field="${other}"]`)
      const value = target.value.trim() === '' ? null : Number(target.value)
      const otherValue = otherInput?.value.trim() ? Number(otherInput.value) : null
      if ((value !== null && Number.isNaN(value)) || (otherValue !== null && Number.isNaN(otherValue))) {
        this.showEditError('Frequencies are numbers in Hz.')
        return
      }
      // Both bounds or neither: wait until the other one is filled in too.
      if ((value === null) !== (otherValue === null)) return
      patch = { [field]: value, [other]: otherValue }
    } else if (field === 'label') {
      patch = { label: target.value }
    } else if (field === 'text') {
      patch = { text: target.value }
    } else {
      return
    }
    const result = this.options.onEdit(id, patch)
    if (result.ok) {
      this.showEditError('')
      this.fillEditor(result.value, { force: true })
    } else {
      this.showEditError(result.reason)
      this.fillEditor(segment, { force: true })
    }
  }
}
