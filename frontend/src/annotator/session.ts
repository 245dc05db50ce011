/**
 * ItemSession: the annotator's UI for one item — waveform (wavesurfer.js with Regions,
 * Timeline, Minimap, Zoom and Hover), the tiled spectrogram under it, label panels, the
 * segment list, keyboard shortcuts, autosave, local drafts and the lead-time counter.
 *
 * The Annotator creates one per item and destroys it when the person moves on.
 */
import WaveSurfer, { type WaveSurferOptions } from 'wavesurfer.js'
import HoverPlugin from 'wavesurfer.js/dist/plugins/hover.esm.js'
import MinimapPlugin from 'wavesurfer.js/dist/plugins/minimap.esm.js'
import RegionsPlugin from 'wavesurfer.js/dist/plugins/regions.esm.js'
import ZoomPlugin from 'wavesurfer.js/dist/plugins/zoom.esm.js'

import { ApiError, isAbortError, type ApiClient, type Peaks } from '../api/client'
import EventEmitter from '../common/event-emitter'
import { formatTime } from '../player/player'
import { Autosave, isStaleVersion, type SaveState } from './autosave'
import { h, formatTimeMs } from './dom'
import { decideDraft, DraftStore, type StorageLike } from './drafts'
import { buildKeymap, KeyboardController, type KeyBinding } from './keymap'
import { LeadTimer } from './lead-time'
import { Timeline } from './timeline'
import { LeaseHeartbeat, type LeaseRenewal, type LeaseState } from './lease'
import { AnnotationModel, type EditResult, type ModelChange, type Segment, type SegmentPatch } from './model'
import { ClipLabelsPanel } from './panels/clip-labels'
import { HelpOverlay } from './panels/help'
import { LabelPalette } from './panels/palette'
import { SegmentList } from './panels/segment-list'
import { SpectrogramSettingsPanel } from './panels/spectrogram-settings'
import { RegionSync, type RegionsLike } from './region-sync'
import { BoxLayer, type BoxGeometry } from './spectrogram/boxes'
import TiledSpectrogramPlugin from './spectrogram/plugin'
import { loadSettings, saveSettings, settingsQuery } from './spectrogram/settings'
import type {
  Annotation,
  AnnotatorItem,
  LabelSchema,
  PredictedSegmentApi,
  Prediction,
  Project,
  SpectrogramInfo,
  SpectrogramSettings,
} from './types'
import { WaveformPeaks } from './waveform-peaks'

/** Finest zoom in CSS px per second (≈ 8 ms per pixel); short files may fit wider */
export const MAX_PX_PER_S = 128
/** Playback rates offered */
export const RATES = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4] as const

/** The part of WaveSurfer the session uses; tests pass a fake */
export type WaveSurferLike = Pick<
  WaveSurfer,
  | 'on'
  | 'play'
  | 'pause'
  | 'playPause'
  | 'isPlaying'
  | 'getCurrentTime'
  | 'setTime'
  | 'getDuration'
  | 'zoom'
  | 'getWidth'
  | 'getScroll'
  | 'setScrollTime'
  | 'getWrapper'
  | 'setPlaybackRate'
  | 'setVolume'
  | 'setOptions'
  | 'destroy'
>

/** The part of ApiClient the session uses */
export type SessionClient = Pick<ApiClient, 'get' | 'post' | 'patch' | 'url'>

/** How an item was finished */
export type SessionOutcome = 'submitted' | 'skipped'

export type ItemSessionEvents = {
  /** The item was submitted or skipped; the annotator moves on */
  done: [outcome: SessionOutcome]
  /** The save state changed */
  save: [state: SaveState]
}

export type ItemSessionOptions = {
  /** Where the session draws itself (its content is replaced) */
  container: HTMLElement
  /** API client */
  client: SessionClient
  /** The project */
  project: Project
  /** The project's schema, normalised */
  schema: LabelSchema
  /** The item (ready) */
  item: AnnotatorItem
  /** My annotation of the item (started as a draft if I had none) */
  annotation: Annotation
  /** Peaks of the whole recording */
  overview: Peaks
  /** The newest prediction for the item, if any */
  prediction: Prediction | null
  /** Spectrogram info, or null when the server has no spectrogram */
  spectrogramInfo: SpectrogramInfo | null
  /** The signed-in user's name (keys local drafts) */
  username: string
  /** Where drafts and settings are kept; null disables them; defaults to localStorage */
  storage?: StorageLike | null
  /** Creates WaveSurfer; defaults to WaveSurfer.create (tests pass a fake) */
  createWaveSurfer?: (options: WaveSurferOptions) => WaveSurferLike
  /** Creates the Regions plugin; defaults to RegionsPlugin.create (tests pass a fake) */
  createRegions?: () => RegionsLike & { destroy?: () => void }
  /** Quiet time before autosave, ms; defaults to 1000 */
  autosaveDebounceMs?: number
  /** Height of the waveform in px, defaults to 128 */
  waveformHeight?: number
  /** Height of the spectrogram band in px, defaults to 200 */
  spectrogramHeight?: number
  /** Position of the item in the queue, shown in the header (e.g. "3 left") */
  queueNote?: string
  /** Milliseconds between renewals of my lease on the item, defaults to 60000 */
  leaseIntervalMs?: number
}

type Selection = { id: string; kind: 'segment' | 'prediction' } | null

const REJECTED_PREFIX = 'earmark:rejected:v1'

export class ItemSession extends EventEmitter<ItemSessionEvents> {
  private readonly options: ItemSessionOptions
  private readonly doc: Document
  private readonly schema: LabelSchema
  private readonly item: AnnotatorItem
  private readonly annotationId: number
  private readonly durationS: number
  private readonly nyquistHz: number
  private readonly storage: StorageLike | null
  private readonly drafts: DraftStore
  readonly model: AnnotationModel
  private readonly autosave: Autosave
  private readonly leadTimer: LeadTimer
  private readonly lease: LeaseHeartbeat
  private readonly keyboard: KeyboardController
  private readonly bindings: KeyBinding[]
  private readonly colors = new Map<string, string>()
  private readonly cleanups: Array<() => void> = []

  // UI
  private readonly root: HTMLElement
  private readonly statusEl: HTMLElement
  private readonly retryButton: HTMLButtonElement
  private readonly noticeEl: HTMLElement
  private readonly conflictEl: HTMLElement
  private readonly submitButton: HTMLButtonElement
  private readonly skipButton: HTMLButtonElement
  private readonly playButton: HTMLButtonElement
  private readonly timeEl: HTMLElement
  private readonly rateSelect: HTMLSelectElement
  private readonly volumeInput: HTMLInputElement
  private readonly loopButton: HTMLButtonElement
  private readonly zoomInput: HTMLInputElement
  private readonly markEl: HTMLElement
  private readonly undoButton: HTMLButtonElement
  private readonly redoButton: HTMLButtonElement
  private readonly waveformEl: HTMLElement
  private readonly spectroNoticeEl: HTMLElement
  private readonly palette: LabelPalette
  private readonly clipPanel: ClipLabelsPanel
  private readonly segmentList: SegmentList
  private readonly help: HelpOverlay
  private settingsPanel: SpectrogramSettingsPanel | null = null

  // waveform
  private wavesurfer: WaveSurferLike | null = null
  private regionSync: RegionSync | null = null
  private spectrogram: TiledSpectrogramPlugin | null = null
  private boxes: BoxLayer | null = null
  private peaks: WaveformPeaks | null = null
  private media: HTMLAudioElement | null = null
  private timeline: Timeline | null = null
  private cancelTimelineFrame: (() => void) | null = null
  private audioUrl = ''
  private ready = false

  // state
  private selection: Selection = null
  private activeLabel: string | null
  private markStartS: number | null = null
  private loop = false
  private rate = 1
  private pxPerS = 0
  private busy = false
  private noticeTimer: ReturnType<typeof setTimeout> | undefined
  private lastActivityTick = 0
  private destroyed = false

  constructor(options: ItemSessionOptions) {
    super()
    this.options = options
    this.doc = options.container.ownerDocument
    this.schema = options.schema
    this.item = options.item
    this.annotationId = options.annotation.id
    this.durationS = options.overview.duration_s || options.item.duration_s || 0
    this.nyquistHz = options.spectrogramInfo?.nyquist_hz ?? (options.item.sample_rate_hz ?? 44_100) / 2
    this.storage = options.storage === undefined ? defaultStorage() : options.storage
    this.drafts = new DraftStore(options.username, this.storage)
    for (const l of this.schema.segment_labels) this.colors.set(l.name, l.color)
    this.activeLabel = this.schema.segment_labels[0]?.name ?? null

    // ---- content: server annotation, local draft, suggestions ----
    this.model = new AnnotationModel({ schema: this.schema, durationS: this.durationS, nyquistHz: this.nyquistHz })
    const server = options.annotation
    const serverContent = { clip_labels: server.clip_labels, segments: server.segments }
    const decision = decideDraft(this.drafts.load(this.item.id), {
      id: server.id,
      version: server.version,
      content: serverContent,
    })
    const startContent = decision.kind === 'none' ? serverContent : decision.draft.content
    this.model.reset(startContent, this.pendingPredictions(options.prediction, startContent.segments))
    this.leadTimer = new LeadTimer({
      initialS: Math.max(server.lead_time_s, decision.kind === 'none' ? 0 : decision.draft.leadTimeS),
      running: this.doc.visibilityState !== 'hidden',
    })
    this.cleanups.push(this.leadTimer.attach(this.doc))
    this.lease = new LeaseHeartbeat({
      renew: () => options.client.post<LeaseRenewal>(`/api/items/${this.item.id}/lease/`, {}),
      doc: this.doc,
      ...(options.leaseIntervalMs !== undefined ? { intervalMs: options.leaseIntervalMs } : {}),
    })
    this.autosave = new Autosave({
      version: server.version,
      debounceMs: options.autosaveDebounceMs ?? 1000,
      save: async (version) => {
        const saved = await options.client.patch<Annotation>(`/api/annotations/${this.annotationId}/`, {
          version,
          ...this.model.toPayload(),
          lead_time_s: this.leadTimer.elapsedS(),
        })
        return saved.version
      },
    })

    // ---- layout ----
    const doc = this.doc
    this.statusEl = h(
      doc,
      'span',
      { class: 'em-save', 'data-testid': 'save-status', 'data-state': 'saved', role: 'status' },
      ['All changes saved'],
    )
    this.retryButton = h(
      doc,
      'button',
      { type: 'button', class: 'em-link', hidden: true, 'data-testid': 'save-retry' },
      ['Retry now'],
    )
    this.submitButton = h(
      doc,
      'button',
      {
        type: 'button',
        class: 'em-button em-button--primary',
        'data-testid': 'submit-button',
        title: 'Ctrl/⌘ + Enter',
      },
      ['Submit & next'],
    )
    this.skipButton = h(
      doc,
      'button',
      { type: 'button', class: 'em-button', 'data-testid': 'skip-button', title: 'Ctrl/⌘ + Shift + S' },
      ['Skip'],
    )
    const helpButton = h(
      doc,
      'button',
      { type: 'button', class: 'em-button', 'data-testid': 'help-button', title: '?' },
      ['Keys (?)'],
    )
    const stateBadge =
      server.state !== 'draft'
        ? h(doc, 'span', { class: `em-badge em-badge--${server.state}`, 'data-testid': 'annotation-state' }, [
            server.state,
          ])
        : null
    const header = h(doc, 'div', { class: 'em-top' }, [
      h(doc, 'div', { class: 'em-top__title' }, [
        h(doc, 'strong', { 'data-testid': 'item-name' }, [this.item.original_name]),
        ' ',
        h(doc, 'span', { class: 'em-muted' }, [
          `${formatTime(this.durationS)} · ${this.item.sample_rate_hz ?? '?'} Hz`,
          options.queueNote ? ` · ${options.queueNote}` : '',
        ]),
        stateBadge ? ' ' : null,
        stateBadge,
      ]),
      h(doc, 'div', { class: 'em-top__actions' }, [
        this.statusEl,
        this.retryButton,
        helpButton,
        this.skipButton,
        this.submitButton,
      ]),
    ])
    const loadTheirs = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'conflict-load-theirs' }, [
      'Load theirs',
    ])
    const keepMine = h(
      doc,
      'button',
      { type: 'button', class: 'em-button em-button--primary', 'data-testid': 'conflict-keep-mine' },
      ['Keep mine'],
    )
    this.conflictEl = h(
      doc,
      'div',
      { class: 'em-banner em-banner--conflict', role: 'alert', 'data-testid': 'conflict-banner', hidden: true },
      [
        h(doc, 'span', {}, [
          'This annotation was changed elsewhere (another tab or device) since you opened it. Nothing has been overwritten. ',
        ]),
        loadTheirs,
        keepMine,
      ],
    )
    this.noticeEl = h(doc, 'div', {
      class: 'em-notice',
      role: 'status',
      'aria-live': 'polite',
      'data-testid': 'notice',
      hidden: true,
    })

    // transport
    this.playButton = h(
      doc,
      'button',
      {
        type: 'button',
        class: 'em-button em-button--play',
        'data-testid': 'play-button',
        disabled: true,
        title: 'Space',
      },
      ['Play'],
    )
    this.timeEl = h(doc, 'span', { class: 'em-time', 'data-testid': 'time-display' }, ['0:00.000'])
    this.rateSelect = h(doc, 'select', { 'data-testid': 'rate-select', title: 'Playback rate (↑/↓), pitch kept' })
    for (const r of RATES) {
      const option = h(doc, 'option', { value: r }, [`${r}×`])
      option.selected = r === 1
      this.rateSelect.append(option)
    }
    this.volumeInput = h(doc, 'input', {
      type: 'range',
      min: 0,
      max: 1,
      step: 0.05,
      value: 1,
      'data-testid': 'volume-slider',
      title: 'Volume',
    })
    this.loopButton = h(
      doc,
      'button',
      {
        type: 'button',
        class: 'em-button',
        'aria-pressed': 'false',
        'data-testid': 'loop-toggle',
        title: 'Loop the selected segment (L)',
      },
      ['Loop'],
    )
    const zoomOut = h(
      doc,
      'button',
      { type: 'button', class: 'em-button', 'data-testid': 'zoom-out', title: 'Zoom out (−)' },
      ['−'],
    )
    const zoomIn = h(
      doc,
      'button',
      { type: 'button', class: 'em-button', 'data-testid': 'zoom-in', title: 'Zoom in (+)' },
      ['+'],
    )
    this.zoomInput = h(doc, 'input', {
      type: 'range',
      min: 0,
      max: 1,
      step: 0.01,
      value: 0,
      'data-testid': 'zoom-slider',
      title: 'Zoom (Ctrl + wheel)',
    })
    this.markEl = h(doc, 'span', { class: 'em-mark', 'data-testid': 'mark-indicator', hidden: true })
    this.undoButton = h(
      doc,
      'button',
      { type: 'button', class: 'em-button', 'data-testid': 'undo-button', disabled: true, title: 'Undo (Ctrl/⌘ + Z)' },
      ['Undo'],
    )
    this.redoButton = h(
      doc,
      'button',
      {
        type: 'button',
        class: 'em-button',
        'data-testid': 'redo-button',
        disabled: true,
        title: 'Redo (Ctrl/⌘ + Shift + Z)',
      },
      ['Redo'],
    )
    const settingsButton = h(
      doc,
      'button',
      {
        type: 'button',
        class: 'em-button',
        'data-testid': 'spectrogram-settings-toggle',
        hidden: !options.spectrogramInfo,
      },
      ['Spectrogram…'],
    )
    const transport = h(doc, 'div', { class: 'em-transport' }, [
      this.playButton,
      this.timeEl,
      h(doc, 'label', { class: 'em-inline' }, ['Speed ', this.rateSelect]),
      h(doc, 'label', { class: 'em-inline' }, ['Vol ', this.volumeInput]),
      this.loopButton,
      h(doc, 'span', { class: 'em-inline' }, [zoomOut, this.zoomInput, zoomIn]),
      this.undoButton,
      this.redoButton,
      settingsButton,
      this.markEl,
    ])
    const minimapEl = h(doc, 'div', { class: 'em-minimap', 'data-testid': 'minimap' })
    this.waveformEl = h(doc, 'div', { class: 'em-waveform', 'data-testid': 'waveform', tabindex: -1 })
    this.spectroNoticeEl = h(doc, 'p', {
      class: 'em-muted em-spectro-notice',
      'data-testid': 'spectrogram-notice',
      hidden: true,
    })
    const settingsHost = h(doc, 'div', { class: 'em-settings-host' })
    const paletteEl = h(doc, 'div')
    const clipEl = h(doc, 'div')
    const listEl = h(doc, 'div', { class: 'em-seglist-host' })
    const instructions = options.project.instructions
      ? h(doc, 'details', { class: 'em-instructions' }, [
          h(doc, 'summary', {}, ['Instructions']),
          h(doc, 'p', {}, [options.project.instructions]),
        ])
      : null
    const side = h(doc, 'aside', { class: 'em-side', 'data-testid': 'side-panel' }, [
      h(doc, 'section', {}, [h(doc, 'h3', {}, ['Segment label']), paletteEl]),
      h(doc, 'section', {}, [
        h(doc, 'h3', {}, ['Clip labels ', h(doc, 'kbd', { title: 'focus with C' }, ['C'])]),
        clipEl,
      ]),
      h(doc, 'section', {}, [listEl]),
      instructions,
    ])
    const main = h(doc, 'div', { class: 'em-main' }, [
      transport,
      settingsHost,
      minimapEl,
      this.waveformEl,
      this.spectroNoticeEl,
    ])
    this.root = h(
      doc,
      'div',
      { class: 'em-session', 'data-testid': 'annotator-session', 'data-item-id': this.item.id },
      [header, this.conflictEl, this.noticeEl, h(doc, 'div', { class: 'em-body' }, [main, side])],
    )
    options.container.replaceChildren(this.root)

    // ---- panels ----
    this.palette = new LabelPalette(paletteEl, this.schema.segment_labels, (label) => {
      this.setActiveLabel(label, { relabelSelection: true })
    })
    this.palette.setActive(this.activeLabel)
    this.clipPanel = new ClipLabelsPanel({
      container: clipEl,
      groups: this.schema.clip_groups,
      model: this.model,
      ...(options.prediction?.clip_scores ? { suggestions: options.prediction.clip_scores } : {}),
      onExit: () => {
        this.focusWaveform()
      },
    })
    this.segmentList = new SegmentList({
      container: listEl,
      model: this.model,
      schema: this.schema,
      colorOf: (label) => this.colorOf(label),
      onActivate: (id, kind) => {
        this.select({ id, kind }, { seek: true, reveal: true })
        if (kind === 'segment') this.playSelected()
      },
      onDelete: (id) => {
        this.model.removeSegments([id])
      },
      onEdit: (id, patch) => this.edit(id, patch),
      onAccept: (id) => {
        this.acceptPrediction(id)
      },
      onReject: (id) => {
        this.rejectPrediction(id)
      },
      onAcceptAll: () => {
        this.acceptAll()
      },
    })
    this.bindings = buildKeymap(this.schema.segment_labels)
    this.help = new HelpOverlay(this.root, this.bindings, () => {
      this.help.setOpen(false)
    })

    // ---- wiring ----
    this.keyboard = new KeyboardController({
      target: this.doc,
      bindings: this.bindings,
      handle: (binding, event) => this.handleKey(binding, event),
    })
    this.listen(
      this.model.on('change', (change) => {
        this.onModelChange(change)
      }),
    )
    this.listen(
      this.autosave.on('state', (state, error) => {
        this.renderSaveState(state, error)
      }),
    )
    this.listen(
      this.autosave.on('saved', () => {
        if (!this.autosave.isDirty()) this.drafts.clear(this.item.id)
      }),
    )
    this.listen(
      this.autosave.on('conflict', () => {
        this.conflictEl.hidden = false
      }),
    )
    this.domListen(this.submitButton, 'click', () => {
      void this.submit()
    })
    this.domListen(this.skipButton, 'click', () => {
      void this.skip()
    })
    this.domListen(helpButton, 'click', () => {
      this.help.setOpen(!this.help.isOpen())
    })
    this.domListen(this.retryButton, 'click', () => {
      this.autosave.retryNow()
    })
    this.domListen(loadTheirs, 'click', () => {
      void this.loadTheirs()
    })
    this.domListen(keepMine, 'click', () => {
      void this.keepMine()
    })
    this.domListen(this.playButton, 'click', () => {
      this.playPause()
    })
    this.domListen(this.rateSelect, 'change', () => {
      this.setRate(Number(this.rateSelect.value))
    })
    this.domListen(this.volumeInput, 'input', () => {
      this.wavesurfer?.setVolume(Number(this.volumeInput.value))
    })
    this.domListen(this.loopButton, 'click', () => {
      this.toggleLoop()
    })
    this.domListen(zoomIn, 'click', () => {
      this.zoomBy(2)
    })
    this.domListen(zoomOut, 'click', () => {
      this.zoomBy(0.5)
    })
    this.domListen(this.zoomInput, 'input', () => {
      this.zoomTo(this.sliderToPxPerS(Number(this.zoomInput.value)))
    })
    this.domListen(this.undoButton, 'click', () => {
      this.undo()
    })
    this.domListen(this.redoButton, 'click', () => {
      this.redo()
    })
    const win = this.doc.defaultView
    if (win) {
      this.domListen(win, 'online', () => {
        this.autosave.retryNow()
      })
      this.domListen(win, 'beforeunload', (event) => {
        if (this.autosave.isDirty()) event.preventDefault()
      })
    }
    // Keys and clicks count as activity for the lead time.
    const activity = () => {
      this.leadTimer.activity()
    }
    this.domListen(this.doc, 'keydown', activity)
    this.domListen(this.doc, 'pointerdown', activity)

    if (decision.kind === 'restore') {
      this.notice('Restored your unsaved changes from this browser; saving them now.')
      this.saveDraftLocally()
      this.autosave.markDirty()
    } else if (decision.kind === 'conflict') {
      // My local work is shown; the server has something newer. Ask before saving anything.
      this.saveDraftLocally()
      this.autosave.markConflict()
      this.notice(
        'Your unsaved changes from this browser were restored, but the annotation changed on the server since.',
        {
          error: true,
        },
      )
    } else {
      this.drafts.clear(this.item.id)
    }

    // My hold on the item in the queue: renewed while the item is open; a failure is only
    // shown, never in the way. Finished work (submitted, skipped) holds no lease.
    let held = false
    let shown: LeaseState = 'idle'
    this.listen(
      this.lease.on('state', (state) => {
        this.root.dataset.lease = state
        if (state === 'renewing') return
        // Once per spell of trouble, not on every retry.
        if (state !== shown) this.renderLeaseState(state, held)
        shown = state
        if (state === 'held') held = true
      }),
    )
    if (server.state === 'draft') this.lease.start()

    this.initWaveform(minimapEl, settingsHost, settingsButton)
  }

  // ---- public ---------------------------------------------------------------------------

  /** The save state */
  getSaveState(): SaveState {
    return this.autosave.getState()
  }

  /** The selected segment or suggestion */
  getSelection(): Selection {
    return this.selection
  }

  /** The label new segments get */
  getActiveLabel(): string | null {
    return this.activeLabel
  }

  /** Lead time so far in seconds */
  getLeadTimeS(): number {
    return this.leadTimer.elapsedS()
  }

  /** Runs a keyboard action as if its key was pressed (for buttons and tests) */
  runAction(binding: KeyBinding): boolean {
    return this.handleKey(binding, null)
  }

  /** Saves what is unsaved and waits for it (used before leaving) */
  flush(): Promise<void> {
    return this.autosave.flush()
  }

  /** Tears everything down */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    clearTimeout(this.noticeTimer)
    this.keyboard.destroy()
    this.autosave.destroy()
    this.lease.stop()
    this.leadTimer.destroy()
    this.cleanups.forEach((f) => {
      f()
    })
    this.cancelTimelineFrame?.()
    this.timeline?.destroy()
    this.peaks?.destroy()
    this.boxes?.destroy()
    this.regionSync?.destroy()
    this.settingsPanel?.destroy()
    this.wavesurfer?.destroy()
    if (this.media) {
      this.media.pause()
      this.media.removeAttribute('src')
      this.media.load()
    }
    this.clipPanel.destroy()
    this.segmentList.destroy()
    this.palette.destroy()
    this.help.destroy()
    this.root.remove()
    this.unAll()
  }

  // ---- setup --------------------------------------------------------------------------------

  private listen(unsubscribe: () => void) {
    this.cleanups.push(unsubscribe)
  }

  private domListen(target: EventTarget, type: string, listener: (event: Event) => void) {
    target.addEventListener(type, listener)
    this.cleanups.push(() => {
      target.removeEventListener(type, listener)
    })
  }

  private initWaveform(minimapEl: HTMLElement, settingsHost: HTMLElement, settingsButton: HTMLButtonElement) {
    const options = this.options
    const doc = this.doc
    const media = doc.createElement('audio')
    // No source until the first play (see ensureAudio); then only metadata up front, and
    // playback streams with Range requests.
    media.preload = 'metadata'
    media.preservesPitch = true
    this.media = media
    this.audioUrl = options.client.url(`/api/items/${this.item.id}/audio/`)
    const waveformHeight = options.waveformHeight ?? 128
    const levels = this.item.peaks_levels?.length ? this.item.peaks_levels : [options.overview.samples_per_bin]
    const sampleRate = options.overview.sample_rate_hz || this.item.sample_rate_hz || 44_100
    this.peaks = new WaveformPeaks({
      overview: options.overview,
      durationS: this.durationS,
      finestBinsPerS: sampleRate / Math.min(...levels),
      getPxPerS: () => this.effectivePxPerS(),
      fetchWindow: (startS, endS, targetBins, signal) =>
        options.client.get<Peaks>(
          `/api/items/${this.item.id}/peaks/`,
          { target_bins: targetBins, start_s: startS, end_s: endS },
          { signal },
        ),
      onDetail: () => {
        // Redraw the visible canvases; the renderFunction picks the finer peaks up.
        this.wavesurfer?.setOptions({})
      },
    })
    const regions = options.createRegions?.() ?? RegionsPlugin.create()
    const plugins: NonNullable<WaveSurferOptions['plugins']> = []
    const withSpectrogram = Boolean(options.spectrogramInfo) || this.schema.segment_frequency
    let settings: SpectrogramSettings | null = null
    if (withSpectrogram) {
      const info = options.spectrogramInfo
      settings = info
        ? loadSettings(this.storage, info)
        : { scale: 'linear', n_fft: 1024, db_min: -80, db_max: 0, cmap: 'gray' }
      this.spectrogram = TiledSpectrogramPlugin.create({
        info,
        settings,
        nyquistHz: this.nyquistHz,
        height: options.spectrogramHeight ?? 200,
        tileUrl: (level, index, s) =>
          options.client.url(`/api/items/${this.item.id}/spectrogram/`, {
            px_per_s: level,
            index,
            ...settingsQuery(s),
          }),
      })
      plugins.push(this.spectrogram)
      if (!info) {
        this.showSpectrogramNotice(
          'No spectrogram for this recording yet (the server does not offer one); frequency boxes can still be drawn.',
        )
      }
      this.listen(
        this.spectrogram.on('error', (error) => {
          const status = typeof error === 'object' && error !== null && 'status' in error ? Number(error.status) : 0
          this.showSpectrogramNotice(
            status === 404
              ? 'The spectrogram is not available for this recording yet.'
              : 'Some spectrogram tiles could not be loaded.',
          )
        }),
      )
    }
    const spectrogramInfo = options.spectrogramInfo
    if (spectrogramInfo && settings) {
      this.settingsPanel = new SpectrogramSettingsPanel(settingsHost, spectrogramInfo, settings, (next) => {
        saveSettings(this.storage, next)
        this.spectrogram?.setSettings(next)
        this.boxes?.render()
      })
      this.domListen(settingsButton, 'click', () => {
        const open = this.settingsPanel?.toggle() ?? false
        settingsButton.setAttribute('aria-expanded', String(open))
      })
    }
    plugins.push(
      regions as unknown as RegionsPlugin,
      HoverPlugin.create({
        lineColor: '#1f2933',
        lineWidth: 1,
        labelBackground: '#1f2933',
        labelColor: '#fff',
        labelSize: 11,
        formatTimeCallback: (s) => formatTimeMs(s),
      }),
      MinimapPlugin.create({
        container: minimapEl,
        height: 32,
        waveColor: '#b8c2cc',
        progressColor: '#7b93c4',
        overlayColor: 'rgba(47, 95, 196, 0.18)',
        cursorWidth: 0,
      }),
      ZoomPlugin.create({ maxZoom: this.maxPxPerS(), exponentialZooming: true, iterations: 24, deltaThreshold: 5 }),
    )
    const create = options.createWaveSurfer ?? ((o: WaveSurferOptions) => WaveSurfer.create(o))
    const ws = create({
      container: this.waveformEl,
      height: waveformHeight,
      waveColor: '#8795a1',
      progressColor: '#2f5fc4',
      cursorColor: '#d64545',
      cursorWidth: 2,
      peaks: options.overview.data,
      duration: this.durationS,
      media,
      minPxPerSec: 0,
      autoScroll: true,
      autoCenter: true,
      renderFunction: this.peaks.render,
      plugins,
    })
    this.wavesurfer = ws
    this.regionSync = new RegionSync({
      regions,
      model: this.model,
      colorOf: (label) => this.colorOf(label),
      heightPx: this.schema.segment_frequency ? waveformHeight : null,
    })
    this.wireRegions(this.regionSync)
    if (this.spectrogram) this.wireSpectrogram(this.spectrogram)
    this.wireZoomWheel()
    this.timeline = new Timeline({
      parent: ws.getWrapper(),
      before: this.spectrogram?.getElement() ?? null,
      durationS: this.durationS,
      format: (s) => formatTime(s),
    })
    for (const event of ['scroll', 'zoom', 'redraw', 'resize', 'ready'] as const) {
      this.listen(
        ws.on(event, () => {
          this.scheduleTimeline()
        }),
      )
    }

    this.listen(
      ws.on('ready', () => {
        if (this.destroyed) return
        this.ready = true
        this.playButton.disabled = false
        this.pxPerS = this.fitPxPerS()
        this.renderZoom()
        this.regionSync?.addAll()
        if (this.activeLabel) this.regionSync?.enableDragSelection(this.activeLabel)
        this.renderTime(0)
      }),
    )
    this.listen(
      ws.on('play', () => {
        this.playButton.textContent = 'Pause'
      }),
    )
    this.listen(
      ws.on('pause', () => {
        this.playButton.textContent = 'Play'
      }),
    )
    this.listen(
      ws.on('timeupdate', (t) => {
        this.onTime(t)
      }),
    )
    this.listen(
      ws.on('zoom', (minPxPerSec) => {
        this.pxPerS = minPxPerSec > 0 ? minPxPerSec : this.fitPxPerS()
        this.renderZoom()
        const pxPerS = this.effectivePxPerS()
        const startS = ws.getScroll() / pxPerS
        this.peaks?.onView({ startS, endS: startS + ws.getWidth() / pxPerS, pxPerS })
      }),
    )
    this.listen(
      ws.on('scroll', (startS, endS) => {
        this.peaks?.onView({ startS, endS, pxPerS: this.effectivePxPerS() })
      }),
    )
    this.listen(
      ws.on('error', (error) => {
        if (isAbortError(error)) return
        this.notice(`Audio problem: ${error.message || 'the recording could not be played'}`, { error: true })
      }),
    )
  }

  /** Redraws the time ruler on the next frame (once however many scroll events come) */
  private scheduleTimeline() {
    if (this.cancelTimelineFrame || this.destroyed) return
    const win = this.doc.defaultView
    const run = () => {
      this.cancelTimelineFrame = null
      const ws = this.wavesurfer
      if (!ws || !this.timeline || this.destroyed) return
      const pxPerS = this.effectivePxPerS()
      const startS = ws.getScroll() / pxPerS
      this.timeline.render({ startS, endS: startS + ws.getWidth() / pxPerS, pxPerS })
    }
    if (win?.requestAnimationFrame) {
      const id = win.requestAnimationFrame(run)
      this.cancelTimelineFrame = () => {
        win.cancelAnimationFrame(id)
      }
    } else {
      const id = setTimeout(run, 16)
      this.cancelTimelineFrame = () => {
        clearTimeout(id)
      }
    }
  }

  private wireRegions(sync: RegionSync) {
    this.listen(
      sync.on('create', (startS, endS) => {
        if (!this.activeLabel) {
          this.notice('This project has no segment labels.', { error: true })
          return
        }
        const result = this.model.addSegment({ start_s: startS, end_s: endS, label: this.activeLabel })
        if (result.ok) this.select({ id: result.value.id, kind: 'segment' })
        else this.notice(result.reason, { error: true })
      }),
    )
    this.listen(
      sync.on('change', (id, kind, startS, endS) => {
        const result =
          kind === 'segment'
            ? this.model.updateSegment(id, { start_s: startS, end_s: endS })
            : this.model.acceptPrediction(id, { start_s: startS, end_s: endS })
        if (!result.ok) {
          sync.revert(id)
          this.notice(result.reason, { error: true })
        } else if (kind === 'prediction') {
          this.select({ id: result.value.id, kind: 'segment' })
        }
      }),
    )
    this.listen(
      sync.on('select', (id, kind) => {
        this.select({ id, kind })
      }),
    )
    this.listen(
      sync.on('activate', (id, kind) => {
        if (kind === 'prediction') this.acceptPrediction(id)
        else {
          this.select({ id, kind })
          this.playSelected()
        }
      }),
    )
  }

  private wireSpectrogram(plugin: TiledSpectrogramPlugin) {
    const boxes = new BoxLayer({
      container: plugin.getOverlay(),
      interactive: this.schema.segment_frequency,
      colorOf: (label) => this.colorOf(label),
      getGeometry: (): BoxGeometry => ({
        pxPerS: plugin.getView()?.pxPerS ?? this.effectivePxPerS(),
        heightPx: plugin.getHeight(),
        scale: plugin.getScale(),
        nyquistHz: plugin.getNyquistHz(),
        durationS: this.durationS,
      }),
    })
    this.boxes = boxes
    if (this.schema.segment_frequency) boxes.setItems(this.model.getSegments(), this.model.getPredictions())
    this.listen(
      plugin.on('view', (view) => {
        boxes.setView(view.startS, view.endS)
        this.peaks?.onView(view)
      }),
    )
    this.listen(
      boxes.on('select', (id, kind) => {
        this.select(id && kind ? { id, kind } : null)
      }),
    )
    this.listen(
      boxes.on('seek', (t) => {
        this.wavesurfer?.setTime(t)
      }),
    )
    this.listen(
      boxes.on('create', (span) => {
        if (!this.activeLabel) {
          this.notice('This project has no segment labels.', { error: true })
          return
        }
        const result = this.model.addSegment({ ...span, label: this.activeLabel })
        if (result.ok) this.select({ id: result.value.id, kind: 'segment' })
        else this.notice(result.reason, { error: true })
      }),
    )
    this.listen(
      boxes.on('change', (id, span, kind) => {
        const patch: SegmentPatch = {
          start_s: span.start_s,
          end_s: span.end_s,
          low_hz: span.low_hz,
          high_hz: span.high_hz,
        }
        const result = kind === 'segment' ? this.model.updateSegment(id, patch) : this.model.acceptPrediction(id, patch)
        if (!result.ok) {
          this.notice(result.reason, { error: true })
          boxes.render()
        } else if (kind === 'prediction') {
          this.select({ id: result.value.id, kind: 'segment' })
        }
      }),
    )
  }

  /** The Zoom plugin zooms on any wheel; zoom only with Ctrl (or ⌘, or a pinch), scroll otherwise */
  private wireZoomWheel() {
    // Capture phase, so the plugin inside the waveform never sees plain wheel events.
    const capture = (event: Event) => {
      const wheel = event as WheelEvent
      if (!wheel.ctrlKey && !wheel.metaKey) event.stopPropagation()
    }
    this.waveformEl.addEventListener('wheel', capture, { capture: true })
    this.cleanups.push(() => {
      this.waveformEl.removeEventListener('wheel', capture, { capture: true })
    })
  }

  // ---- model → views --------------------------------------------------------------------------

  private onModelChange(change: ModelChange) {
    this.regionSync?.apply(change)
    this.segmentList.apply(change)
    if (this.boxes && this.schema.segment_frequency)
      this.boxes.setItems(this.model.getSegments(), this.model.getPredictions())
    if (change.clipLabels) this.clipPanel.refresh()
    const sel = this.selection
    if (sel && (change.removed.includes(sel.id) || change.predictionsRemoved.includes(sel.id))) this.select(null)
    else if (sel && change.updated.includes(sel.id)) this.segmentList.setSelected(sel.id)
    this.undoButton.disabled = !this.model.canUndo
    this.redoButton.disabled = !this.model.canRedo
    if (change.cause === 'reset') return
    const contentChanged = change.added.length || change.updated.length || change.removed.length || change.clipLabels
    if (contentChanged) {
      this.saveDraftLocally()
      this.autosave.markDirty()
    }
  }

  private saveDraftLocally() {
    const saved = this.drafts.save(this.item.id, {
      annotationId: this.annotationId,
      baseVersion: this.autosave.getVersion(),
      content: this.model.toPayload(),
      leadTimeS: this.leadTimer.elapsedS(),
      savedAt: Date.now(),
    })
    if (!saved && this.storage)
      this.notice('This browser could not keep a local copy (storage full?); saving to the server only.')
  }

  private renderSaveState(state: SaveState, error: ApiError | null) {
    const text: Record<SaveState, string> = {
      saved: 'All changes saved',
      pending: 'Unsaved changes…',
      saving: 'Saving…',
      offline: 'Offline — changes kept in this browser, retrying…',
      error: `Not saved: ${error?.detail ?? 'the server refused the changes'}`,
      conflict: 'Changed elsewhere — choose below',
    }
    this.statusEl.textContent = text[state]
    this.statusEl.dataset.state = state
    this.retryButton.hidden = !(state === 'offline' || state === 'error')
    this.emit('save', state)
  }

  /** Shows a lease problem as a notice; `wasHeld`: whether a renewal ever succeeded */
  private renderLeaseState(state: LeaseState, wasHeld: boolean) {
    const error = this.lease.getError()
    if (state === 'offline') {
      this.notice(
        'Could not renew your hold on this item: the server cannot be reached. Keep working; your changes are kept in this browser and it retries by itself.',
        { error: true },
      )
    } else if (state === 'lost' && wasHeld) {
      // Never held (opened from a link, not the queue): nothing was lost, nothing to say.
      this.notice(
        'Your hold on this item has expired, so the queue may send it to someone else too. Your work is saved as usual.',
        { error: true },
      )
    } else if (state === 'failed') {
      this.notice(`Could not renew your hold on this item: ${error?.detail ?? 'the server refused'}.`, {
        error: true,
      })
    }
  }

  private renderTime(t: number) {
    this.timeEl.textContent = `${formatTimeMs(t)} / ${formatTimeMs(this.durationS)}`
  }

  private renderZoom() {
    const min = Math.log2(this.fitPxPerS())
    const max = Math.log2(this.maxPxPerS())
    const value = max > min ? (Math.log2(Math.max(this.pxPerS, this.fitPxPerS())) - min) / (max - min) : 0
    this.zoomInput.value = String(Math.min(1, Math.max(0, value)))
    const msPerPx = 1000 / Math.max(this.pxPerS, 1e-9)
    this.zoomInput.title = `Zoom: ${msPerPx >= 1000 ? `${(msPerPx / 1000).toFixed(1)} s` : `${msPerPx.toFixed(1)} ms`} per pixel (Ctrl + wheel)`
  }

  private showSpectrogramNotice(message: string) {
    this.spectroNoticeEl.textContent = message
    this.spectroNoticeEl.hidden = false
  }

  /** Shows a short message; errors stay longer */
  notice(message: string, { error = false }: { error?: boolean } = {}): void {
    clearTimeout(this.noticeTimer)
    this.noticeEl.textContent = message
    this.noticeEl.hidden = false
    this.noticeEl.dataset.kind = error ? 'error' : 'info'
    this.noticeTimer = setTimeout(
      () => {
        this.noticeEl.hidden = true
      },
      error ? 8000 : 4000,
    )
  }

  // ---- selection ------------------------------------------------------------------------------

  private select(selection: Selection, { seek = false, reveal = false }: { seek?: boolean; reveal?: boolean } = {}) {
    this.selection = selection
    const id = selection?.id ?? null
    this.regionSync?.setSelected(id)
    this.segmentList.setSelected(id)
    this.boxes?.setSelected(id)
    if (!selection) return
    const data =
      selection.kind === 'segment' ? this.model.getSegment(selection.id) : this.model.getPrediction(selection.id)
    if (!data) return
    if (seek) this.wavesurfer?.setTime(data.start_s)
    if (reveal) this.reveal(data.start_s, data.end_s)
  }

  /** Scrolls so that [start, end] is in view, when it is not */
  private reveal(startS: number, endS: number) {
    const ws = this.wavesurfer
    if (!ws || !this.ready) return
    const pxPerS = this.effectivePxPerS()
    const left = ws.getScroll() / pxPerS
    const right = left + ws.getWidth() / pxPerS
    if (startS >= left && endS <= right) return
    const span = right - left
    ws.setScrollTime(Math.max(0, startS - span * 0.1))
  }

  /** Segments and suggestions in time order, for j/k */
  private navigable(): Array<{ id: string; kind: 'segment' | 'prediction'; start_s: number }> {
    const items = [
      ...this.model
        .getSegments()
        .map((s) => ({ id: s.id, kind: 'segment' as const, start_s: s.start_s, end_s: s.end_s })),
      ...this.model
        .getPredictions()
        .map((p) => ({ id: p.id, kind: 'prediction' as const, start_s: p.start_s, end_s: p.end_s })),
    ]
    return items.sort((a, b) => a.start_s - b.start_s || a.end_s - b.end_s)
  }

  private selectStep(step: 1 | -1) {
    const items = this.navigable()
    if (!items.length) {
      this.notice('No segments yet.')
      return
    }
    let index: number
    const current = this.selection ? items.findIndex((i) => i.id === this.selection?.id) : -1
    if (current >= 0) {
      index = Math.min(items.length - 1, Math.max(0, current + step))
    } else {
      const t = this.wavesurfer?.getCurrentTime() ?? 0
      index = -1
      if (step > 0) index = items.findIndex((i) => i.start_s >= t - 1e-6)
      else for (let i = items.length - 1; i >= 0 && index < 0; i--) if ((items[i]?.start_s ?? 0) < t - 1e-6) index = i
      if (index < 0) index = step > 0 ? items.length - 1 : 0
    }
    const item = items[index]
    if (item) this.select({ id: item.id, kind: item.kind }, { seek: true, reveal: true })
  }

  // ---- editing --------------------------------------------------------------------------------

  private colorOf(label: string): string {
    return this.colors.get(label) ?? '#4363d8'
  }

  private edit(id: string, patch: SegmentPatch): EditResult<Segment> {
    const result = this.model.updateSegment(id, patch)
    if (!result.ok) this.notice(result.reason, { error: true })
    return result
  }

  private setActiveLabel(label: string, { relabelSelection }: { relabelSelection: boolean }) {
    this.activeLabel = label
    this.palette.setActive(label)
    if (this.ready) this.regionSync?.enableDragSelection(label)
    const sel = this.selection
    if (!relabelSelection || !sel) return
    if (sel.kind === 'segment') {
      const result = this.model.updateSegment(sel.id, { label })
      if (!result.ok) this.notice(result.reason, { error: true })
    } else {
      this.acceptPrediction(sel.id, { label })
    }
  }

  private acceptPrediction(id: string, patch: SegmentPatch = {}) {
    const result = this.model.acceptPrediction(id, patch)
    if (!result.ok) {
      this.notice(result.reason, { error: true })
      return
    }
    this.select({ id: result.value.id, kind: 'segment' })
  }

  private rejectPrediction(id: string) {
    const prediction = this.model.getPrediction(id)
    if (!prediction) return
    this.rememberRejected(prediction)
    this.model.rejectPrediction(id)
  }

  private acceptAll() {
    const { accepted, refused } = this.model.acceptAllPredictions()
    for (const group of this.schema.clip_groups) {
      if (!(this.model.getClipLabels()[group.name]?.length ?? 0)) this.clipPanel.acceptSuggestion(group.name)
    }
    this.notice(
      refused
        ? `Accepted ${accepted} suggestion(s); ${refused} would overlap existing segments and stay pending.`
        : `Accepted ${accepted} suggestion(s).`,
    )
  }

  private deleteSelected() {
    const sel = this.selection
    if (!sel) {
      this.notice('Select a segment first (j / k, or click it).')
      return
    }
    const items = this.navigable()
    const index = items.findIndex((i) => i.id === sel.id)
    const next = items[index + 1] ?? items[index - 1] ?? null
    if (sel.kind === 'segment') this.model.removeSegments([sel.id])
    else this.rejectPrediction(sel.id)
    if (next) this.select({ id: next.id, kind: next.kind })
  }

  private markStart() {
    const t = this.wavesurfer?.getCurrentTime() ?? 0
    this.markStartS = t
    this.markEl.hidden = false
    this.markEl.textContent = `Start marked at ${formatTimeMs(t)} — press ] at the end`
  }

  private markEnd() {
    const t = this.wavesurfer?.getCurrentTime() ?? 0
    if (this.markStartS === null) {
      this.notice('Press [ at the start of the sound first, then ] at its end.')
      return
    }
    if (!this.activeLabel) {
      this.notice('This project has no segment labels.', { error: true })
      return
    }
    const start = Math.min(this.markStartS, t)
    const end = Math.max(this.markStartS, t)
    const result = this.model.addSegment({ start_s: start, end_s: end, label: this.activeLabel })
    if (!result.ok) {
      this.notice(result.reason, { error: true })
      return
    }
    this.clearMark()
    this.select({ id: result.value.id, kind: 'segment' })
  }

  private clearMark() {
    this.markStartS = null
    this.markEl.hidden = true
  }

  private nudge(edge: 'start' | 'end' | 'move', deltaS: number) {
    const sel = this.selection
    if (sel?.kind !== 'segment') {
      this.notice('Select a segment first (j / k, or click it).')
      return
    }
    const segment = this.model.getSegment(sel.id)
    if (!segment) return
    const key = `${edge}:${sel.id}`
    const result =
      edge === 'move'
        ? this.model.moveSegment(sel.id, deltaS, { coalesceKey: key })
        : this.model.updateSegment(
            sel.id,
            edge === 'start' ? { start_s: segment.start_s + deltaS } : { end_s: segment.end_s + deltaS },
            { coalesceKey: key },
          )
    if (!result.ok) this.notice(result.reason, { error: true })
  }

  private undo() {
    if (!this.model.undo()) this.notice('Nothing to undo.')
  }

  private redo() {
    if (!this.model.redo()) this.notice('Nothing to redo.')
  }

  // ---- playback and view ----------------------------------------------------------------------

  /**
   * Gives the media element its source on first use. Until then no audio is fetched and
   * Chromium starts no media pipeline nor audio service (about 25 MB); seeking before that
   * works, the element keeps the position.
   */
  private ensureAudio() {
    const media = this.media
    if (media?.getAttribute('src') !== null || !this.audioUrl) return
    media.src = this.audioUrl
  }

  private playPause() {
    const ws = this.wavesurfer
    if (!ws || !this.ready) return
    this.ensureAudio()
    if (!ws.isPlaying() && this.loop) {
      const seg = this.selectedSegmentSpan()
      const t = ws.getCurrentTime()
      if (seg && (t < seg.start_s || t >= seg.end_s)) ws.setTime(seg.start_s)
    }
    ws.playPause().catch((err: unknown) => {
      if (!isAbortError(err))
        this.notice(`Could not play: ${err instanceof Error ? err.message : String(err)}`, { error: true })
    })
  }

  private playSelected() {
    const ws = this.wavesurfer
    const seg = this.selectedSegmentSpan()
    if (!ws || !this.ready || !seg) return
    this.ensureAudio()
    const play = this.loop ? ws.play(seg.start_s) : ws.play(seg.start_s, seg.end_s)
    play.catch((err: unknown) => {
      if (!isAbortError(err))
        this.notice(`Could not play: ${err instanceof Error ? err.message : String(err)}`, { error: true })
    })
  }

  private selectedSegmentSpan(): { start_s: number; end_s: number } | null {
    const sel = this.selection
    if (!sel) return null
    return (sel.kind === 'segment' ? this.model.getSegment(sel.id) : this.model.getPrediction(sel.id)) ?? null
  }

  private onTime(t: number) {
    this.renderTime(t)
    const ws = this.wavesurfer
    if (!ws?.isPlaying()) return
    const now = Date.now()
    if (now - this.lastActivityTick > 1000) {
      // Listening is work: it keeps the lead time counting.
      this.lastActivityTick = now
      this.leadTimer.activity()
    }
    if (this.loop) {
      const seg = this.selectedSegmentSpan()
      if (seg && t >= seg.end_s - 0.005) ws.setTime(seg.start_s)
    }
  }

  private toggleLoop() {
    this.loop = !this.loop
    this.loopButton.setAttribute('aria-pressed', String(this.loop))
    this.loopButton.classList.toggle('em-button--on', this.loop)
    if (this.loop && !this.selectedSegmentSpan()) this.notice('Loop is on: select a segment to loop it.')
  }

  private setRate(rate: number) {
    const clamped = Math.min(4, Math.max(0.25, rate))
    this.rate = clamped
    // preservesPitch: faster or slower, the pitch stays the same.
    this.wavesurfer?.setPlaybackRate(clamped, true)
    if (this.rateSelect.value !== String(clamped)) this.rateSelect.value = String(clamped)
  }

  private stepRate(step: 1 | -1) {
    const index = RATES.findIndex((r) => r >= this.rate - 1e-9)
    const next = RATES[Math.min(RATES.length - 1, Math.max(0, (index < 0 ? RATES.length - 1 : index) + step))] ?? 1
    this.setRate(next)
    this.notice(`Playback ${next}×`)
  }

  private fitPxPerS(): number {
    const width = this.wavesurfer?.getWidth() || this.waveformEl.clientWidth || 1000
    return width / Math.max(this.durationS, 1e-6)
  }

  private maxPxPerS(): number {
    return Math.max(MAX_PX_PER_S, this.fitPxPerS())
  }

  /** The waveform's actual px per second (fit when not zoomed) */
  private effectivePxPerS(): number {
    const ws = this.wavesurfer
    if (!ws) return this.pxPerS || this.fitPxPerS()
    const wrapper = ws.getWrapper()
    const styled = wrapper.style.width.endsWith('px') ? parseFloat(wrapper.style.width) : 0
    const width = styled || ws.getWidth()
    return width / Math.max(this.durationS, 1e-6)
  }

  private sliderToPxPerS(value: number): number {
    const min = Math.log2(this.fitPxPerS())
    const max = Math.log2(this.maxPxPerS())
    return 2 ** (min + value * (max - min))
  }

  private zoomTo(pxPerS: number) {
    const ws = this.wavesurfer
    if (!ws || !this.ready) return
    const fit = this.fitPxPerS()
    const clamped = Math.min(this.maxPxPerS(), Math.max(fit, pxPerS))
    // At "fit", let wavesurfer fill the width exactly rather than overflow by a pixel.
    ws.zoom(clamped <= fit * 1.001 ? 0 : clamped)
  }

  private zoomBy(factor: number) {
    this.zoomTo(Math.max(this.pxPerS, this.fitPxPerS()) * factor)
  }

  private zoomToSelection() {
    const seg = this.selectedSegmentSpan()
    const ws = this.wavesurfer
    if (!seg || !ws) {
      this.notice('Select a segment first (j / k, or click it).')
      return
    }
    const span = Math.max(seg.end_s - seg.start_s, 0.05)
    this.zoomTo(ws.getWidth() / (span * 1.4))
    ws.setScrollTime(Math.max(0, seg.start_s - span * 0.2))
  }

  private seek(deltaS: number) {
    const ws = this.wavesurfer
    if (!ws || !this.ready) return
    ws.setTime(Math.min(this.durationS, Math.max(0, ws.getCurrentTime() + deltaS)))
  }

  private focusWaveform() {
    this.waveformEl.focus({ preventScroll: true })
  }

  // ---- keyboard -----------------------------------------------------------------------------

  private handleKey(binding: KeyBinding, event: KeyboardEvent | null): boolean {
    if (this.destroyed) return false
    const arg = binding.arg
    const num = typeof arg === 'number' ? arg : 0
    if (this.help.isOpen() && binding.action !== 'help' && binding.action !== 'escape') return true
    switch (binding.action) {
      case 'help':
        this.help.setOpen(!this.help.isOpen())
        return true
      case 'escape':
        if (this.help.isOpen()) this.help.setOpen(false)
        else if (this.markStartS !== null) this.clearMark()
        else if (this.selection) this.select(null)
        else return false
        return true
      case 'playPause':
        this.playPause()
        return true
      case 'seek':
        this.seek(num)
        return true
      case 'seekTo':
        this.wavesurfer?.setTime(Math.min(this.durationS, Math.max(0, num)))
        return true
      case 'rateUp':
        this.stepRate(1)
        return true
      case 'rateDown':
        this.stepRate(-1)
        return true
      case 'playSelected':
        if (!this.selectedSegmentSpan()) return false
        this.playSelected()
        return true
      case 'toggleLoop':
        this.toggleLoop()
        return true
      case 'zoomIn':
        this.zoomBy(2)
        return true
      case 'zoomOut':
        this.zoomBy(0.5)
        return true
      case 'zoomFit':
        this.zoomTo(0)
        return true
      case 'zoomSelection':
        this.zoomToSelection()
        return true
      case 'markStart':
        this.markStart()
        return true
      case 'markEnd':
        this.markEnd()
        return true
      case 'selectNext':
      case 'selectPrevious': {
        // Tab moves focus as usual when focus is on a control of the page.
        if (event?.key === 'Tab' && this.focusIsOnControl(event.target)) return false
        this.selectStep(binding.action === 'selectNext' ? 1 : -1)
        return true
      }
      case 'deleteSelected':
        this.deleteSelected()
        return true
      case 'nudgeStart':
        this.nudge('start', num)
        return true
      case 'nudgeEnd':
        this.nudge('end', num)
        return true
      case 'moveSelected':
        this.nudge('move', num)
        return true
      case 'setLabel':
        if (typeof arg === 'string') this.setActiveLabel(arg, { relabelSelection: true })
        return true
      case 'acceptSelected':
        if (this.selection?.kind === 'prediction') this.acceptPrediction(this.selection.id)
        else this.notice('Select a suggestion first (j / k).')
        return true
      case 'acceptAll':
        this.acceptAll()
        return true
      case 'focusClipLabels':
        this.clipPanel.focus()
        return true
      case 'toggleClipLabel':
        if (!this.clipPanel.toggleNumber(num)) this.notice(`There is no clip label number ${num}.`)
        return true
      case 'undo':
        this.undo()
        return true
      case 'redo':
        this.redo()
        return true
      case 'submit':
        void this.submit()
        return true
      case 'skip':
        void this.skip()
        return true
    }
  }

  private focusIsOnControl(target: EventTarget | null): boolean {
    if (!(target instanceof Element)) return false
    if (target === this.doc.body || target === this.waveformEl) return false
    return target.closest('button, a[href], input, select, textarea, summary, [tabindex]:not([tabindex="-1"])') !== null
  }

  // ---- finishing ------------------------------------------------------------------------------

  /** Saves, submits and moves on; explains what is missing otherwise */
  async submit(): Promise<void> {
    if (this.busy || this.destroyed) return
    const missing = this.model.missingRequiredGroups()
    if (missing.length) {
      this.clipPanel.markMissing(missing)
      this.notice(`Choose a label in “${missing[0] ?? ''}” before submitting (C goes to the clip labels).`, {
        error: true,
      })
      return
    }
    this.setBusy(true)
    try {
      await this.autosave.flush({ force: true })
      const submitted = await this.options.client.post<Annotation>(`/api/annotations/${this.annotationId}/submit/`, {
        version: this.autosave.getVersion(),
      })
      this.autosave.adopt(submitted.version)
      this.drafts.clear(this.item.id)
      this.leadTimer.pause()
      this.lease.stop()
      this.emit('done', 'submitted')
    } catch (err) {
      this.reportFinishError(err, 'submit')
    } finally {
      this.setBusy(false)
    }
  }

  /** Saves what is unsaved, skips the item and moves on */
  async skip(): Promise<void> {
    if (this.busy || this.destroyed) return
    this.setBusy(true)
    try {
      if (this.autosave.isDirty()) await this.autosave.flush()
      await this.options.client.post(`/api/items/${this.item.id}/skip/`, {})
      this.drafts.clear(this.item.id)
      this.leadTimer.pause()
      this.lease.stop()
      this.emit('done', 'skipped')
    } catch (err) {
      this.reportFinishError(err, 'skip')
    } finally {
      this.setBusy(false)
    }
  }

  private reportFinishError(err: unknown, what: 'submit' | 'skip') {
    if (this.destroyed) return
    if (isStaleVersion(err)) {
      this.conflictEl.hidden = false
      this.notice(`Could not ${what}: this annotation changed elsewhere. Choose which version to keep.`, {
        error: true,
      })
      return
    }
    if (err instanceof ApiError) {
      const groups = Object.keys(err.fields)
        .filter((k) => k.startsWith('clip_labels.'))
        .map((k) => k.slice('clip_labels.'.length))
      if (groups.length) this.clipPanel.markMissing(groups)
      const offline = err.status === 0 || err.status >= 500
      this.notice(
        offline
          ? `Could not ${what}: the server cannot be reached. Your work is kept in this browser; try again in a moment.`
          : `Could not ${what}: ${err.detail}`,
        { error: true },
      )
      return
    }
    this.notice(`Could not ${what}: ${err instanceof Error ? err.message : String(err)}`, { error: true })
  }

  private setBusy(busy: boolean) {
    this.busy = busy
    this.submitButton.disabled = busy
    this.skipButton.disabled = busy
  }

  // ---- conflicts ------------------------------------------------------------------------------

  private async loadTheirs() {
    try {
      const theirs = await this.options.client.get<Annotation>(`/api/annotations/${this.annotationId}/`)
      this.model.replaceContent({ clip_labels: theirs.clip_labels, segments: theirs.segments })
      this.autosave.adopt(theirs.version)
      this.drafts.clear(this.item.id)
      this.conflictEl.hidden = true
      this.notice('Loaded the other version. Ctrl+Z brings yours back.')
    } catch (err) {
      this.notice(`Could not load the other version: ${err instanceof Error ? err.message : String(err)}`, {
        error: true,
      })
    }
  }

  private async keepMine() {
    try {
      const theirs = await this.options.client.get<Annotation>(`/api/annotations/${this.annotationId}/`)
      this.conflictEl.hidden = true
      this.autosave.resolveConflict(theirs.version)
      this.notice('Keeping your version; saving it over the other one.')
    } catch (err) {
      this.notice(`Could not reach the server: ${err instanceof Error ? err.message : String(err)}`, { error: true })
    }
  }

  // ---- suggestions ------------------------------------------------------------------------------

  private rejectedKey(): string {
    return `${REJECTED_PREFIX}:${encodeURIComponent(this.options.username)}:${this.item.id}`
  }

  private rejectedSet(): Set<string> {
    try {
      const raw = this.storage?.getItem(this.rejectedKey())
      return new Set(raw ? (JSON.parse(raw) as string[]) : [])
    } catch {
      return new Set()
    }
  }

  private rememberRejected(p: { label: string; start_s: number; end_s: number }) {
    const set = this.rejectedSet()
    set.add(predictionKey(p))
    try {
      this.storage?.setItem(this.rejectedKey(), JSON.stringify([...set]))
    } catch {
      // Not remembered: it shows again next time, nothing worse.
    }
  }

  /** Suggestions still to decide: not rejected here before, not already a segment */
  private pendingPredictions(
    prediction: Prediction | null,
    segments: ReadonlyArray<{ start_s: number; end_s: number; label: string }>,
  ): PredictedSegmentApi[] {
    if (!prediction?.segments.length) return []
    const rejected = this.rejectedSet()
    return prediction.segments.filter(
      (p) =>
        !rejected.has(predictionKey(p)) &&
        !segments.some(
          (s) => s.label === p.label && Math.abs(s.start_s - p.start_s) < 0.011 && Math.abs(s.end_s - p.end_s) < 0.011,
        ),
    )
  }
}

function predictionKey(p: { label: string; start_s: number; end_s: number }): string {
  return `${p.label}|${p.start_s.toFixed(3)}|${p.end_s.toFixed(3)}`
}

function defaultStorage(): StorageLike | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null
  } catch {
    return null
  }
}
