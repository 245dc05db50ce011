/**
 * Shapes of the REST API resources the annotator reads and writes (see docs/api.md).
 */
import type { AudioItem } from '../api/client'

/** A clip label group of the project's label schema */
export type ClipGroupSchema = {
  /** Group name, the key in `clip_labels` */
  name: string
  /** "single": at most one label (radio buttons); "multi": any number (checkboxes) */
  choice: 'single' | 'multi'
  /** The labels to choose from, in display order */
  labels: string[]
  /** Whether a label must be chosen before submitting */
  required?: boolean
}

/** A segment label of the project's label schema */
export type SegmentLabelSchema = {
  /** Label name, stored in `segment.label` */
  name: string
  /** Display colour, "#rrggbb" */
  color: string
  /** A single character that picks this label; "" for none */
  hotkey?: string
}

/** What annotators may label in a project */
export type LabelSchema = {
  /** Whole-clip label groups */
  clip_groups: ClipGroupSchema[]
  /** Labels for time segments */
  segment_labels: SegmentLabelSchema[]
  /** Whether segments may overlap in time */
  segments_overlap: boolean
  /** Whether segments carry a frequency band (low_hz, high_hz) */
  segment_frequency: boolean
  /** Whether segments carry free text */
  segment_text: boolean
}

/** A project, as returned by `/api/projects/{id}/` */
export type Project = {
  /** Primary key */
  id: number
  /** Display name */
  name: string
  /** Instructions for annotators (plain text) */
  instructions: string
  /** The label schema */
  label_schema: Partial<LabelSchema>
  /** The caller's role: "annotator", "reviewer" or "manager" */
  my_role: string | null
}

/** An audio item as the annotator needs it (the API's item plus its peaks levels) */
export type AnnotatorItem = AudioItem & {
  /** Samples per bin of each stored peaks level */
  peaks_levels?: number[]
}

/** A stored segment, as the API returns it */
export type ApiSegment = {
  /** Server id; changes on every save (segments are replaced), so never used as identity */
  id?: number
  /** Start in seconds */
  start_s: number
  /** End in seconds, greater than start_s */
  end_s: number
  /** A segment label name of the schema */
  label: string
  /** Lower frequency bound in Hz, when the schema has frequency bounds */
  low_hz?: number | null
  /** Upper frequency bound in Hz */
  high_hz?: number | null
  /** Free text, when the schema has text */
  text?: string
}

/** Clip labels: group name → chosen labels */
export type ClipLabels = Record<string, string[]>

/** An annotation, as returned by `/api/annotations/{id}/` */
export type Annotation = {
  /** Primary key */
  id: number
  /** The item it labels */
  item: number
  /** "draft", "submitted" or "skipped" */
  state: 'draft' | 'submitted' | 'skipped'
  /** Clip labels */
  clip_labels: ClipLabels
  /** Segments, ordered by start */
  segments: ApiSegment[]
  /** Seconds of active work recorded so far */
  lead_time_s: number
  /** Optimistic-concurrency version; send it back with every change */
  version: number
}

/** `/api/projects/{id}/next-item/` */
export type NextItem = {
  /** The next item to label, null when the queue is empty */
  item: AnnotatorItem | null
  /** My draft on that item, if any */
  annotation: Annotation | null
}

/** A predicted segment */
export type PredictedSegmentApi = {
  start_s: number
  end_s: number
  label: string
  score: number
  low_hz?: number | null
  high_hz?: number | null
}

/** A model's prediction for an item, from `/api/items/{id}/predictions/` */
export type Prediction = {
  /** Primary key */
  id: number
  /** The model version that made it */
  model_version: number
  /** group → label → score in [0, 1] */
  clip_scores: Record<string, Record<string, number>>
  /** Predicted segments */
  segments: PredictedSegmentApi[]
}

/** The body of PATCH `/api/annotations/{id}/` without the version */
export type AnnotationContentPayload = {
  clip_labels: ClipLabels
  segments: ApiSegment[]
}

/** `/api/items/{id}/spectrogram/info/` */
export type SpectrogramInfo = {
  /** Width of every tile in pixels (512) */
  tile_width_px: number
  /** Height of every tile in pixels (256) */
  tile_height_px: number
  /** Available horizontal resolutions in pixels per second, powers of two */
  px_per_s_levels: number[]
  /** Frequency scales: "mel", "linear" */
  scales: string[]
  /** FFT sizes */
  n_ffts: number[]
  /** Colour maps */
  cmaps: string[]
  /** Server defaults for the rendering settings */
  defaults?: Partial<SpectrogramSettings>
  /** Tiles per level, keyed by the level as text ("8", "0.5", "0.015625"); the last tile is narrower */
  tiles_per_level?: Record<string, number>
  /** Lowest and highest dB the tile endpoint accepts */
  db_limits?: [number, number]
  /** Half the sample rate, the top of the frequency axis */
  nyquist_hz: number
  /** Duration of the item in seconds */
  duration_s: number
}

/** How spectrogram tiles are rendered (query parameters of the tile endpoint) */
export type SpectrogramSettings = {
  /** Frequency scale */
  scale: string
  /** FFT size */
  n_fft: number
  /** dB mapped to the bottom of the colour map */
  db_min: number
  /** dB mapped to the top of the colour map */
  db_max: number
  /** Colour map name */
  cmap: string
}

/** The page's configuration, rendered by Django with `json_script` */
export type AnnotatorConfig = {
  /** The project being labelled */
  projectId: number
  /** The item to open, or null to open the next item of my queue */
  itemId: number | null
  /** The signed-in user's name; keys local drafts */
  username: string
  /** Page URLs */
  urls: {
    /** The project page */
    project: string
    /** The annotate page of an item, with "{id}" in place of the item id */
    itemAnnotate: string
  }
}
