/**
 * CompareView: every annotation of one item side by side, for reviewers and managers
 * (`/items/{id}/annotate/?compare=1`). One waveform and spectrogram (the same streaming
 * pieces as the annotator: server peaks, tiles, Range-streamed audio), under them one lane per
 * annotator with their segments in that lane's colour, and a card per annotation with its clip
 * labels, its review history and the review actions:
 *
 * - Accept, or Reject with a comment (it goes back to the annotator);
 * - Correct: a "reviewed truth" lane starts as a copy of that annotation; clicking a segment in
 *   another lane adds it to the truth, clicking one in the truth lane takes it out; clip labels
 *   are chosen per group; Save sends the verdict "corrected" with the content.
 *
 * Every action is `POST /api/annotations/{id}/review/`; afterwards the data is fetched again.
 */
import WaveSurfer, { type WaveSurferOptions } from 'wavesurfer.js'
import HoverPlugin from 'wavesurfer.js/dist/plugins/hover.esm.js'
import ZoomPlugin from 'wavesurfer.js/dist/plugins/zoom.esm.js'

import { ApiError, isAbortError, type Peaks } from '../../api/client'
import EventEmitter from '../../common/event-emitter'
import { formatTime } from '../../player/player'
import { formatTimeMs, h } from '../dom'
import { normalizeSchema } from '../schema'
import type { SessionClient, WaveSurferLike } from '../session'
import TiledSpectrogramPlugin from '../spectrogram/plugin'
import { loadSettings, settingsQuery } from '../spectrogram/settings'
import type { StorageLike } from '../drafts'
import type { ApiSegment, ClipLabels, LabelSchema, Project, SpectrogramInfo } from '../types'
import { Timeline } from '../timeline'
import { WaveformPeaks } from '../waveform-peaks'
import { type CompareAnnotation, type CompareData, laneColor, readCompare, reviewPayload, type Verdict } from './data'
import { type Lane, LaneView } from './lanes'

/** What the page shows */
export type CompareState = 'loading' | 'ready' | 'error'

export type CompareViewEvents = {
  /** When the state changes */
  state: [state: CompareState]
  /** After a review was stored */
  reviewed: [annotationId: number, verdict: Verdict]
}

export type CompareViewOptions = {
  /** Where the view draws itself (its content is replaced) */
  container: HTMLElement
  /** API client */
  client: SessionClient
  /** The project */
  projectId: number
  /** The item */
  itemId: number
  /** Link back to the project page */
  projectUrl?: string
  /** Where the spectrogram settings are read from; defaults to localStorage */
  storage?: StorageLike | null
  /** Creates WaveSurfer; defaults to WaveSurfer.create (tests pass a fake) */
  createWaveSurfer?: (options: WaveSurferOptions) => WaveSurferLike
}

/** Bins asked for the overview, as the annotator does */
const OVERVIEW_BINS = 4000
/** Finest zoom in CSS px per second */
const MAX_PX_PER_S = 128
const TRUTH_KEY = 'truth'

type Correction = {
  /** The annotation being corrected */
  base: CompareAnnotation
  segments: ApiSegment[]
  clipLabels: ClipLabels
}

function sameSegment(a: ApiSegment, b: ApiSegment): boolean {
  return a.label === b.label && Math.abs(a.start_s - b.start_s) < 0.0005 && Math.abs(a.end_s - b.end_s) < 0.0005
}

export class CompareView extends EventEmitter<CompareViewEvents> {
  private readonly options: CompareViewOptions
  private readonly doc: Document
  private readonly root: HTMLElement
  private readonly messageEl: HTMLElement
  private readonly stage: HTMLElement
  private readonly abort = new AbortController()
  private state: CompareState = 'loading'
  private data: CompareData | null = null
  private schema: LabelSchema | null = null
  private correction: Correction | null = null
  private busy = false
  private destroyed = false
  private readonly cleanups: Array<() => void> = []

  // built once the data is there
  private wavesurfer: WaveSurferLike | null = null
  private peaks: WaveformPeaks | null = null
  private lanes: LaneView | null = null
  private media: HTMLAudioElement | null = null
  private cardsEl: HTMLElement | null = null
  private noticeEl: HTMLElement | null = null
  private timeEl: HTMLElement | null = null
  private playButton: HTMLButtonElement | null = null
  private noticeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(options: CompareViewOptions) {
    super()
    this.options = options
    this.doc = options.container.ownerDocument
    this.messageEl = h(this.doc, 'div', { class: 'em-state', 'data-testid': 'compare-state', role: 'status' })
    this.stage = h(this.doc, 'div', { class: 'em-stage' })
    this.root = h(
      this.doc,
      'div',
      { class: 'em-annotator em-compare', 'data-testid': 'compare', 'data-state': 'loading' },
      [this.messageEl, this.stage],
    )
    options.container.replaceChildren(this.root)
    this.show('loading', 'Loading the annotations…')
    void this.load()
  }

  /** What the page shows */
  getState(): CompareState {
    return this.state
  }

  /** The data as last loaded */
  getData(): CompareData | null {
    return this.data
  }

  /** Stores a review of one annotation, then reloads; resolves false (with a notice) on failure */
  async review(annotationId: number, verdict: Verdict, comment = ''): Promise<boolean> {
    if (this.busy || this.destroyed) return false
    let body
    try {
      const correction = this.correction
      body = reviewPayload(
        verdict,
        comment,
        verdict === 'corrected' && correction
          ? { clip_labels: correction.clipLabels, segments: correction.segments }
          : undefined,
      )
    } catch (err) {
      this.notice(err instanceof Error ? err.message : String(err), { error: true })
      return false
    }
    this.setBusy(true)
    try {
      await this.options.client.post(`/api/annotations/${annotationId}/review/`, body)
      if (verdict === 'corrected') this.correction = null
      const label = {
        accepted: 'Accepted',
        rejected: 'Rejected; it goes back to the annotator',
        corrected: 'Correction saved',
      }
      await this.refresh()
      this.notice(`${label[verdict]}.`)
      this.emit('reviewed', annotationId, verdict)
      return true
    } catch (err) {
      this.notice(`Could not save the review: ${describe(err)}`, { error: true })
      return false
    } finally {
      this.setBusy(false)
    }
  }

  /** Tears everything down */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.abort.abort()
    clearTimeout(this.noticeTimer)
    this.teardownPlayer()
    this.root.remove()
    this.unAll()
  }

  // ---- loading ----------------------------------------------------------------------------

  private async load() {
    const { client, itemId, projectId } = this.options
    const signal = this.abort.signal
    try {
      const [project, raw, overview, info] = await Promise.all([
        client.get<Project>(`/api/projects/${projectId}/`, undefined, { signal }),
        client.get<unknown>(`/api/items/${itemId}/compare/`, undefined, { signal }),
        client.get<Peaks>(`/api/items/${itemId}/peaks/`, { target_bins: OVERVIEW_BINS }, { signal }),
        this.spectrogramInfo(),
      ])
      if (this.destroyed) return
      this.schema = normalizeSchema(project.label_schema)
      this.data = readCompare(raw)
      this.build(project, overview, info)
      this.show('ready', '')
    } catch (err) {
      this.fail(err)
    }
  }

  private async refresh() {
    const raw = await this.options.client.get<unknown>(`/api/items/${this.options.itemId}/compare/`, undefined, {
      signal: this.abort.signal,
    })
    if (this.destroyed) return
    this.data = readCompare(raw)
    this.renderLanes()
    this.renderCards()
  }

  private async spectrogramInfo(): Promise<SpectrogramInfo | null> {
    try {
      const info = await this.options.client.get<SpectrogramInfo>(
        `/api/items/${this.options.itemId}/spectrogram/info/`,
        undefined,
        { signal: this.abort.signal },
      )
      return info.px_per_s_levels.length && info.tile_width_px > 0 ? info : null
    } catch (err) {
      if (isAbortError(err)) throw err
      return null
    }
  }

  // ---- layout -----------------------------------------------------------------------------

  private build(project: Project, overview: Peaks, info: SpectrogramInfo | null) {
    const data = this.data
    if (!data) return
    const doc = this.doc
    const item = data.item
    const durationS = overview.duration_s || item.duration_s || 0
    const people = data.annotations.filter((a) => !a.isReference).length
    this.playButton = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--play', 'data-testid': 'play-button' },
      ['Play'],
    )
    this.timeEl = h(doc, 'span', { class: 'em-time', 'data-testid': 'time-display' }, ['0:00.000'])
    const zoomIn = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'zoom-in' }, ['+'])
    const zoomOut = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'zoom-out' }, ['−'])
    this.noticeEl = h(doc, 'div', {
      class: 'em-notice',
      role: 'status',
      'aria-live': 'polite',
      'data-testid': 'notice',
      hidden: true,
    })
    const waveformEl = h(doc, 'div', { class: 'em-waveform', 'data-testid': 'waveform', tabindex: -1 })
    this.cardsEl = h(doc, 'div', { class: 'em-compare__cards', 'data-testid': 'compare-cards' })
    const header = h(doc, 'div', { class: 'em-top' }, [
      h(doc, 'div', { class: 'em-top__title' }, [
        h(doc, 'strong', { 'data-testid': 'item-name' }, [item.original_name]),
        ' ',
        h(doc, 'span', { class: 'em-muted' }, [
          `${formatTime(durationS)} · ${people} annotation${people === 1 ? '' : 's'} · ${project.name}`,
        ]),
      ]),
      this.options.projectUrl
        ? h(doc, 'a', { class: 'em-button', href: this.options.projectUrl, 'data-testid': 'back-to-project' }, [
            'Back to the project',
          ])
        : null,
    ])
    const transport = h(doc, 'div', { class: 'em-transport' }, [this.playButton, this.timeEl, zoomOut, zoomIn])
    this.stage.replaceChildren(
      h(doc, 'div', { class: 'em-session', 'data-testid': 'compare-session', 'data-item-id': item.id }, [
        header,
        this.noticeEl,
        transport,
        waveformEl,
        this.cardsEl,
      ]),
    )

    const media = doc.createElement('audio')
    // Nothing is fetched until someone plays; then it streams with Range requests.
    media.preload = 'none'
    this.media = media
    const levels = item.peaks_levels?.length ? item.peaks_levels : [overview.samples_per_bin]
    const sampleRate = overview.sample_rate_hz || item.sample_rate_hz || 44_100
    let ws: WaveSurferLike | null = null
    const pxPerS = () => {
      const wrapper = ws?.getWrapper()
      const width = wrapper?.style.width.endsWith('px') ? parseFloat(wrapper.style.width) : (ws?.getWidth() ?? 0)
      return width / Math.max(durationS, 1e-6)
    }
    this.peaks = new WaveformPeaks({
      overview,
      durationS,
      finestBinsPerS: sampleRate / Math.min(...levels),
      getPxPerS: pxPerS,
      fetchWindow: (startS, endS, targetBins, signal) =>
        this.options.client.get<Peaks>(
          `/api/items/${item.id}/peaks/`,
          { target_bins: targetBins, start_s: startS, end_s: endS },
          { signal },
        ),
      onDetail: () => {
        this.wavesurfer?.setOptions({})
      },
    })
    const plugins: NonNullable<WaveSurferOptions['plugins']> = []
    let spectrogram: TiledSpectrogramPlugin | null = null
    if (info) {
      const storage = this.options.storage === undefined ? defaultStorage() : this.options.storage
      spectrogram = TiledSpectrogramPlugin.create({
        info,
        settings: loadSettings(storage, info),
        nyquistHz: info.nyquist_hz,
        height: 160,
        tileUrl: (level, index, s) =>
          this.options.client.url(`/api/items/${item.id}/spectrogram/`, {
            px_per_s: level,
            index,
            ...settingsQuery(s),
          }),
      })
      plugins.push(spectrogram)
    }
    const width = () => ws?.getWidth() || waveformEl.clientWidth || 1000
    plugins.push(
      HoverPlugin.create({
        lineColor: '#1f2933',
        lineWidth: 1,
        labelBackground: '#1f2933',
        labelColor: '#fff',
        labelSize: 11,
        formatTimeCallback: (s) => formatTimeMs(s),
      }),
      ZoomPlugin.create({
        maxZoom: Math.max(MAX_PX_PER_S, width() / Math.max(durationS, 1e-6)),
        exponentialZooming: true,
        iterations: 24,
      }),
    )
    const create = this.options.createWaveSurfer ?? ((o: WaveSurferOptions) => WaveSurfer.create(o))
    ws = create({
      container: waveformEl,
      height: 96,
      waveColor: '#8795a1',
      progressColor: '#2f5fc4',
      cursorColor: '#d64545',
      cursorWidth: 2,
      url: this.options.client.url(`/api/items/${item.id}/audio/`),
      peaks: overview.data,
      duration: durationS,
      media,
      minPxPerSec: 0,
      renderFunction: this.peaks.render,
      plugins,
    })
    this.wavesurfer = ws
    const timeline = new Timeline({
      parent: ws.getWrapper(),
      before: spectrogram?.getElement() ?? null,
      durationS,
      format: (s) => formatTime(s),
    })
    this.cleanups.push(() => {
      timeline.destroy()
    })
    const renderTimeline = () => {
      const p = pxPerS()
      if (!(p > 0)) return
      const startS = ws.getScroll() / p
      timeline.render({ startS, endS: startS + ws.getWidth() / p, pxPerS: p })
    }
    for (const event of ['scroll', 'zoom', 'redraw', 'resize', 'ready'] as const)
      this.cleanups.push(ws.on(event, renderTimeline))
    this.lanes = new LaneView({ parent: ws.getWrapper(), durationS })
    this.cleanups.push(
      this.lanes.on('segment-click', (laneKey, index) => {
        this.onSegmentClick(laneKey, index)
      }),
      ws.on('timeupdate', (t) => {
        if (this.timeEl) this.timeEl.textContent = `${formatTimeMs(t)} / ${formatTimeMs(durationS)}`
      }),
      ws.on('play', () => {
        if (this.playButton) this.playButton.textContent = 'Pause'
      }),
      ws.on('pause', () => {
        if (this.playButton) this.playButton.textContent = 'Play'
      }),
      ws.on('zoom', () => {
        const p = pxPerS()
        const startS = ws.getScroll() / Math.max(p, 1e-9)
        this.peaks?.onView({ startS, endS: startS + ws.getWidth() / Math.max(p, 1e-9), pxPerS: p })
      }),
      ws.on('scroll', (startS, endS) => {
        this.peaks?.onView({ startS, endS, pxPerS: pxPerS() })
      }),
    )
    const zoomBy = (factor: number) => {
      const fit = width() / Math.max(durationS, 1e-6)
      const next = Math.min(Math.max(MAX_PX_PER_S, fit), Math.max(fit, pxPerS() * factor))
      ws.zoom(next <= fit * 1.001 ? 0 : next)
    }
    // As in the annotator: the wheel scrolls, Ctrl (or ⌘, or a pinch) + wheel zooms.
    const wheel = (event: Event) => {
      const w = event as WheelEvent
      if (!w.ctrlKey && !w.metaKey) event.stopPropagation()
    }
    waveformEl.addEventListener('wheel', wheel, { capture: true })
    this.cleanups.push(() => {
      waveformEl.removeEventListener('wheel', wheel, { capture: true })
    })
    this.domListen(this.playButton, 'click', () => {
      this.playPause()
    })
    this.domListen(zoomIn, 'click', () => {
      zoomBy(2)
    })
    this.domListen(zoomOut, 'click', () => {
      zoomBy(0.5)
    })
    this.domListen(doc, 'keydown', (event) => {
      const e = event as KeyboardEvent
      const target = e.target instanceof Element ? e.target : null
      if (target?.closest('input, textarea, select, [contenteditable]')) return
      if (e.key === ' ' && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault()
        this.playPause()
      } else if ((e.key === '=' || e.key === '+') && !e.ctrlKey && !e.metaKey) zoomBy(2)
      else if (e.key === '-' && !e.ctrlKey && !e.metaKey) zoomBy(0.5)
    })
    this.renderLanes()
    this.renderCards()
  }

  private playPause() {
    const ws = this.wavesurfer
    if (!ws) return
    ws.playPause().catch((err: unknown) => {
      if (!isAbortError(err)) this.notice(`Could not play: ${describe(err)}`, { error: true })
    })
  }

  // ---- lanes ------------------------------------------------------------------------------

  private renderLanes() {
    const data = this.data
    if (!data || !this.lanes) return
    const lanes: Lane[] = data.annotations.map((a, i) => ({
      key: String(a.id),
      title: a.isReference ? 'Reviewed truth' : a.annotator,
      color: laneColor(i, a.isReference),
      segments: a.segments,
    }))
    const correction = this.correction
    if (correction) {
      lanes.push({
        key: TRUTH_KEY,
        title: `Correction of ${correction.base.annotator} (unsaved)`,
        color: laneColor(0, true),
        segments: correction.segments,
        dashed: true,
      })
    }
    this.lanes.setLanes(lanes)
  }

  private onSegmentClick(laneKey: string, index: number) {
    const correction = this.correction
    if (!correction) return
    if (laneKey === TRUTH_KEY) {
      correction.segments = correction.segments.filter((_, i) => i !== index)
    } else {
      const source = this.data?.annotations.find((a) => String(a.id) === laneKey)?.segments[index]
      if (!source) return
      const at = correction.segments.findIndex((s) => sameSegment(s, source))
      if (at >= 0) correction.segments = correction.segments.filter((_, i) => i !== at)
      else
        correction.segments = [...correction.segments, { ...source }].sort(
          (a, b) => a.start_s - b.start_s || a.end_s - b.end_s,
        )
    }
    this.renderLanes()
    this.renderCorrectionSummary()
  }

  // ---- cards ------------------------------------------------------------------------------

  private renderCards() {
    const data = this.data
    const cards = this.cardsEl
    if (!data || !cards) return
    const doc = this.doc
    if (!data.annotations.length) {
      cards.replaceChildren(
        h(doc, 'p', { class: 'em-muted', 'data-testid': 'compare-empty' }, ['Nobody has annotated this item yet.']),
      )
      return
    }
    const list = data.annotations.map((a, i) => this.card(a, i))
    const correction = this.correction ? this.correctionCard(this.correction) : null
    cards.replaceChildren(...(correction ? [correction] : []), ...list)
  }

  private card(a: CompareAnnotation, index: number): HTMLElement {
    const doc = this.doc
    const color = laneColor(index, a.isReference)
    const clip = Object.entries(a.clipLabels)
      .filter(([, labels]) => labels.length)
      .map(([group, labels]) =>
        h(doc, 'li', {}, [h(doc, 'span', { class: 'em-muted' }, [`${group}: `]), labels.join(', ')]),
      )
    const counts = new Map<string, number>()
    for (const s of a.segments) counts.set(s.label, (counts.get(s.label) ?? 0) + 1)
    const reviews = a.reviews.map((r) =>
      h(doc, 'li', { 'data-testid': 'compare-review', 'data-verdict': r.verdict }, [
        h(doc, 'strong', {}, [r.verdict]),
        ` by ${r.reviewer}`,
        r.createdAt
          ? h(doc, 'span', { class: 'em-muted' }, [` · ${r.createdAt.slice(0, 16).replace('T', ' ')}`])
          : null,
        r.comment ? h(doc, 'div', { class: 'em-compare__comment' }, [r.comment]) : null,
      ]),
    )
    // Only submitted work that nobody reviewed yet can be reviewed (the server says 409 otherwise).
    const actions = a.isReference || a.state !== 'submitted' || a.reviewState !== 'pending' ? null : this.actions(a)
    return h(
      doc,
      'section',
      {
        class: 'em-compare__card',
        'data-testid': 'compare-card',
        'data-annotation-id': a.id,
        'data-review-state': a.reviewState,
        style: `border-left-color: ${color}`,
      },
      [
        h(doc, 'div', { class: 'em-compare__card-head' }, [
          h(doc, 'span', { class: 'em-compare__chip', style: `background: ${color}` }),
          h(doc, 'strong', { 'data-testid': 'compare-annotator' }, [a.isReference ? 'Reviewed truth' : a.annotator]),
          ' ',
          h(doc, 'span', { class: `em-badge em-badge--${a.state}` }, [a.state]),
          ' ',
          h(
            doc,
            'span',
            { class: `em-badge em-badge--review-${a.reviewState}`, 'data-testid': 'compare-review-state' },
            [a.reviewState],
          ),
        ]),
        h(doc, 'p', { class: 'em-muted' }, [
          `${a.segments.length} segment${a.segments.length === 1 ? '' : 's'}`,
          counts.size ? ` (${[...counts].map(([l, n]) => `${n} ${l}`).join(', ')})` : '',
        ]),
        clip.length
          ? h(doc, 'ul', { class: 'em-compare__clip', 'data-testid': 'compare-clip-labels' }, clip)
          : h(doc, 'p', { class: 'em-muted' }, ['No clip labels.']),
        reviews.length ? h(doc, 'ul', { class: 'em-compare__reviews' }, reviews) : null,
        actions,
      ],
    )
  }

  private actions(a: CompareAnnotation): HTMLElement {
    const doc = this.doc
    const accept = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--primary', 'data-testid': 'review-accept' },
      ['Accept'],
    )
    const reject = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'review-reject' }, ['Reject…'])
    const correct = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'review-correct' }, [
      'Correct…',
    ])
    const comment = h(doc, 'textarea', {
      class: 'em-compare__input',
      rows: 2,
      placeholder: 'Why? The annotator sees this.',
      'data-testid': 'review-comment',
      'aria-label': `Comment for ${a.annotator}`,
    })
    const send = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--danger', 'data-testid': 'review-reject-send' },
      ['Send back'],
    )
    const rejectForm = h(doc, 'div', { class: 'em-compare__reject', hidden: true }, [comment, send])
    accept.addEventListener('click', () => {
      void this.review(a.id, 'accepted')
    })
    reject.addEventListener('click', () => {
      rejectForm.hidden = !rejectForm.hidden
      if (!rejectForm.hidden) comment.focus()
    })
    send.addEventListener('click', () => {
      void this.review(a.id, 'rejected', comment.value)
    })
    correct.addEventListener('click', () => {
      this.startCorrection(a)
    })
    return h(doc, 'div', { class: 'em-compare__actions' }, [
      h(doc, 'div', { class: 'em-compare__buttons' }, [accept, reject, correct]),
      rejectForm,
    ])
  }

  // ---- correction -------------------------------------------------------------------------

  private startCorrection(base: CompareAnnotation) {
    this.correction = {
      base,
      segments: base.segments.map((s) => ({ ...s })),
      clipLabels: Object.fromEntries(Object.entries(base.clipLabels).map(([g, l]) => [g, [...l]])),
    }
    this.renderLanes()
    this.renderCards()
    this.notice('Click segments in the lanes to add them to the correction or take them out of it.')
  }

  private correctionCard(correction: Correction): HTMLElement {
    const doc = this.doc
    const groups = (this.schema?.clip_groups ?? []).map((group) => {
      const chosen = new Set(correction.clipLabels[group.name] ?? [])
      const inputs = group.labels.map((label) => {
        const input = h(doc, 'input', {
          type: group.choice === 'single' ? 'radio' : 'checkbox',
          name: `correction-${group.name}`,
          value: label,
          'data-testid': 'correction-clip-label',
        })
        input.checked = chosen.has(label)
        input.addEventListener('change', () => {
          const current = new Set(group.choice === 'single' ? [] : (correction.clipLabels[group.name] ?? []))
          if (input.checked) current.add(label)
          else current.delete(label)
          correction.clipLabels = { ...correction.clipLabels, [group.name]: [...current] }
        })
        return h(doc, 'label', { class: 'em-inline' }, [input, ` ${label}`])
      })
      return h(doc, 'fieldset', { class: 'em-compare__group' }, [h(doc, 'legend', {}, [group.name]), ...inputs])
    })
    const comment = h(doc, 'textarea', {
      class: 'em-compare__input',
      rows: 2,
      placeholder: 'What was corrected (optional)',
      'data-testid': 'correction-comment',
    })
    const save = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--primary', 'data-testid': 'correction-save' },
      ['Save as reviewed truth'],
    )
    const cancel = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'correction-cancel' }, [
      'Cancel',
    ])
    save.addEventListener('click', () => {
      void this.review(correction.base.id, 'corrected', comment.value)
    })
    cancel.addEventListener('click', () => {
      this.correction = null
      this.renderLanes()
      this.renderCards()
    })
    return h(doc, 'section', { class: 'em-compare__card em-compare__card--truth', 'data-testid': 'correction-card' }, [
      h(doc, 'div', { class: 'em-compare__card-head' }, [
        h(doc, 'strong', {}, [`Correcting ${correction.base.annotator}`]),
      ]),
      h(doc, 'p', { class: 'em-muted', 'data-testid': 'correction-summary' }),
      ...groups,
      comment,
      h(doc, 'div', { class: 'em-compare__buttons' }, [save, cancel]),
    ])
  }

  private renderCorrectionSummary() {
    const el = this.cardsEl?.querySelector('[data-testid="correction-summary"]')
    const correction = this.correction
    if (!el || !correction) return
    const n = correction.segments.length
    el.textContent = `${n} segment${n === 1 ? '' : 's'} in the correction. Click a segment in a lane to add it, in the dashed lane to take it out.`
  }

  // ---- helpers ----------------------------------------------------------------------------

  private setBusy(busy: boolean) {
    this.busy = busy
    this.cardsEl?.querySelectorAll<HTMLButtonElement>('button').forEach((b) => {
      b.disabled = busy
    })
  }

  /** Shows a short message; errors stay longer */
  notice(message: string, { error = false }: { error?: boolean } = {}): void {
    const el = this.noticeEl
    if (!el) return
    clearTimeout(this.noticeTimer)
    el.textContent = message
    el.hidden = false
    el.dataset.kind = error ? 'error' : 'info'
    this.noticeTimer = setTimeout(
      () => {
        el.hidden = true
      },
      error ? 8000 : 4000,
    )
  }

  private domListen(target: EventTarget, type: string, listener: (event: Event) => void) {
    target.addEventListener(type, listener)
    this.cleanups.push(() => {
      target.removeEventListener(type, listener)
    })
  }

  private teardownPlayer() {
    this.cleanups.forEach((f) => {
      f()
    })
    this.cleanups.length = 0
    this.peaks?.destroy()
    this.lanes?.destroy()
    this.wavesurfer?.destroy()
    if (this.media) {
      this.media.pause()
      this.media.removeAttribute('src')
      this.media.load()
    }
  }

  private fail(err: unknown) {
    if (this.destroyed || isAbortError(err)) return
    const message =
      err instanceof ApiError && err.status === 403
        ? 'Only reviewers and managers of this project can compare annotations.'
        : err instanceof ApiError && err.status === 404
          ? 'This item does not exist, you are not a member of its project, or the server cannot compare annotations yet.'
          : `Could not load the annotations: ${describe(err)}`
    this.show('error', message)
  }

  private show(state: CompareState, message: string) {
    const changed = state !== this.state
    this.state = state
    this.root.dataset.state = state
    this.messageEl.hidden = message === ''
    this.messageEl.replaceChildren(h(this.doc, 'p', { 'data-testid': `compare-${state}` }, [message]))
    if (changed) this.emit('state', state)
  }
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return err.detail
  return err instanceof Error ? err.message : String(err)
}

function defaultStorage(): StorageLike | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null
  } catch {
    return null
  }
}
