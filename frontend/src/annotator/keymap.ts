/**
 * The annotator's keyboard map: one table that both the key handler and the help overlay read.
 *
 * A chord is written "Mod+Shift+Alt+key": `Mod` is Ctrl, or ⌘ on a Mac; the key is a
 * `KeyboardEvent.key` value ("ArrowLeft", "z", "?", " ") or, prefixed "code:", a
 * `KeyboardEvent.code` ("code:Comma") for keys whose character changes with Alt or the layout.
 */
import EventEmitter from '../common/event-emitter'
import { handlesSpaceNatively, isTypingTarget } from '../common/keyboard'
import type { SegmentLabelSchema } from './types'

/** Everything a key can do */
export type KeyAction =
  | 'playPause'
  | 'seek'
  | 'seekTo'
  | 'zoomIn'
  | 'zoomOut'
  | 'zoomFit'
  | 'zoomSelection'
  | 'rateUp'
  | 'rateDown'
  | 'markStart'
  | 'markEnd'
  | 'selectNext'
  | 'selectPrevious'
  | 'deleteSelected'
  | 'playSelected'
  | 'toggleLoop'
  | 'nudgeStart'
  | 'nudgeEnd'
  | 'moveSelected'
  | 'setLabel'
  | 'acceptSelected'
  | 'acceptAll'
  | 'focusClipLabels'
  | 'toggleClipLabel'
  | 'undo'
  | 'redo'
  | 'submit'
  | 'skip'
  | 'help'
  | 'escape'

/** Sections of the help overlay, in display order */
export const SECTIONS = ['Playback', 'View', 'Segments', 'Labels', 'Item'] as const
export type KeySection = (typeof SECTIONS)[number]

export type KeyBinding = {
  /** What the keys do */
  action: KeyAction
  /** The action's argument: seconds, a label name, a clip-label number */
  arg?: number | string
  /** Chords that trigger it; the first is shown first in the help */
  keys: string[]
  /** One line for the help overlay; "" hides the binding there (another row describes it) */
  help: string
  /** How the help overlay shows the keys, when not the chords themselves (e.g. ", / ." for a pair) */
  display?: string
  /** Where the help overlay lists it */
  section: KeySection
  /** Whether holding the key repeats the action, default false */
  repeat?: boolean
}

/** One frame for nudging segment edges, in seconds */
export const NUDGE_S = 0.01
/** A large nudge (with Shift), in seconds */
export const NUDGE_LARGE_S = 0.1

/** The built-in bindings (schema hotkeys are added in front of these by `buildKeymap`) */
export const DEFAULT_BINDINGS: readonly KeyBinding[] = [
  { action: 'playPause', keys: [' '], help: 'Play / pause', section: 'Playback' },
  {
    action: 'seek',
    arg: -1,
    keys: ['ArrowLeft'],
    display: '← / →',
    help: 'Back / forward 1 s',
    section: 'Playback',
    repeat: true,
  },
  { action: 'seek', arg: 1, keys: ['ArrowRight'], help: '', section: 'Playback', repeat: true },
  {
    action: 'seek',
    arg: -5,
    keys: ['Shift+ArrowLeft'],
    display: 'Shift + ← / →',
    help: 'Back / forward 5 s',
    section: 'Playback',
    repeat: true,
  },
  { action: 'seek', arg: 5, keys: ['Shift+ArrowRight'], help: '', section: 'Playback', repeat: true },
  { action: 'seekTo', arg: 0, keys: ['Home'], help: 'Go to the start', section: 'Playback' },
  { action: 'seekTo', arg: Infinity, keys: ['End'], help: 'Go to the end', section: 'Playback' },
  {
    action: 'rateUp',
    keys: ['ArrowUp'],
    display: '↑ / ↓',
    help: 'Faster / slower playback (0.25× to 4×, pitch kept)',
    section: 'Playback',
  },
  { action: 'rateDown', keys: ['ArrowDown'], help: '', section: 'Playback' },
  { action: 'playSelected', keys: ['Enter'], help: 'Play the selected segment', section: 'Playback' },
  { action: 'toggleLoop', keys: ['l'], help: 'Loop the selected segment on / off', section: 'Playback' },
  { action: 'zoomIn', keys: ['+', '='], help: 'Zoom in', section: 'View', repeat: true },
  { action: 'zoomOut', keys: ['-', '_'], help: 'Zoom out', section: 'View', repeat: true },
  { action: 'zoomFit', keys: ['z'], help: 'Show the whole recording', section: 'View' },
  { action: 'zoomSelection', keys: ['Shift+Z'], help: 'Zoom to the selected segment', section: 'View' },
  {
    action: 'markStart',
    keys: ['['],
    help: 'Mark a segment start at the playhead',
    section: 'Segments',
  },
  {
    action: 'markEnd',
    keys: [']'],
    help: 'Mark the end: creates a segment with the active label',
    section: 'Segments',
  },
  { action: 'selectNext', keys: ['Tab', 'j'], help: 'Select the next segment', section: 'Segments' },
  { action: 'selectPrevious', keys: ['Shift+Tab', 'k'], help: 'Select the previous segment', section: 'Segments' },
  {
    action: 'deleteSelected',
    keys: ['Delete', 'Backspace'],
    help: 'Delete the selected segment (or reject a suggestion)',
    section: 'Segments',
  },
  {
    action: 'nudgeStart',
    arg: -NUDGE_S,
    keys: ['code:Comma'],
    display: ', / .',
    help: 'Selected segment: start 10 ms earlier / later (with Shift: 100 ms)',
    section: 'Segments',
    repeat: true,
  },
  { action: 'nudgeStart', arg: NUDGE_S, keys: ['code:Period'], help: '', section: 'Segments', repeat: true },
  {
    action: 'nudgeStart',
    arg: -NUDGE_LARGE_S,
    keys: ['Shift+code:Comma'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  {
    action: 'nudgeStart',
    arg: NUDGE_LARGE_S,
    keys: ['Shift+code:Period'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  {
    action: 'nudgeEnd',
    arg: -NUDGE_S,
    keys: ['Alt+code:Comma'],
    display: 'Alt + , / .',
    help: 'Selected segment: end 10 ms earlier / later (with Shift: 100 ms)',
    section: 'Segments',
    repeat: true,
  },
  { action: 'nudgeEnd', arg: NUDGE_S, keys: ['Alt+code:Period'], help: '', section: 'Segments', repeat: true },
  {
    action: 'nudgeEnd',
    arg: -NUDGE_LARGE_S,
    keys: ['Shift+Alt+code:Comma'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  {
    action: 'nudgeEnd',
    arg: NUDGE_LARGE_S,
    keys: ['Shift+Alt+code:Period'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  {
    action: 'moveSelected',
    arg: -NUDGE_S,
    keys: ['Alt+ArrowLeft'],
    display: 'Alt + ← / →',
    help: 'Move the selected segment 10 ms (with Shift: 100 ms)',
    section: 'Segments',
    repeat: true,
  },
  { action: 'moveSelected', arg: NUDGE_S, keys: ['Alt+ArrowRight'], help: '', section: 'Segments', repeat: true },
  {
    action: 'moveSelected',
    arg: -NUDGE_LARGE_S,
    keys: ['Shift+Alt+ArrowLeft'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  {
    action: 'moveSelected',
    arg: NUDGE_LARGE_S,
    keys: ['Shift+Alt+ArrowRight'],
    help: '',
    section: 'Segments',
    repeat: true,
  },
  { action: 'acceptSelected', keys: ['a'], help: 'Accept the selected suggestion', section: 'Segments' },
  { action: 'acceptAll', keys: ['Shift+A'], help: 'Accept all suggestions', section: 'Segments' },
  { action: 'undo', keys: ['Mod+z'], help: 'Undo', section: 'Segments', repeat: true },
  { action: 'redo', keys: ['Mod+Shift+Z', 'Mod+y'], help: 'Redo', section: 'Segments', repeat: true },
  {
    action: 'focusClipLabels',
    keys: ['c'],
    help: 'Go to the clip labels (↑/↓ move, Space picks, Esc returns)',
    section: 'Labels',
  },
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n): KeyBinding => ({
    action: 'toggleClipLabel',
    arg: n,
    keys: [`Alt+code:Digit${n}`],
    help: n === 1 ? 'Alt+1…9: pick / unpick clip label number 1…9 (numbers shown in the panel)' : '',
    section: 'Labels',
  })),
  { action: 'submit', keys: ['Mod+Enter'], help: 'Submit and go to the next item', section: 'Item' },
  { action: 'skip', keys: ['Mod+Shift+S'], help: 'Skip this item', section: 'Item' },
  { action: 'help', keys: ['?'], help: 'Show / hide this help', section: 'Item' },
  { action: 'escape', keys: ['Escape'], help: 'Cancel a mark, deselect, close this help', section: 'Item' },
]

/** The full map: one binding per schema hotkey (they win over built-ins), then the built-ins */
export function buildKeymap(segmentLabels: readonly SegmentLabelSchema[]): KeyBinding[] {
  const labelBindings = segmentLabels
    .filter((l) => l.hotkey)
    .map((l): KeyBinding => ({
      action: 'setLabel',
      arg: l.name,
      keys: [l.hotkey ?? ''],
      help: `Label “${l.name}” (active label, and the selected segment’s)`,
      section: 'Labels',
    }))
  return [...labelBindings, ...DEFAULT_BINDINGS]
}

type Chord = { mod: boolean; shift: boolean; alt: boolean; key: string | null; code: string | null }

const chordCache = new Map<string, Chord>()

/** Parses "Mod+Shift+Z" into its parts */
export function parseChord(chord: string): Chord {
  const cached = chordCache.get(chord)
  if (cached) return cached
  // "+" alone (or as the last part, "Mod++") is the key itself.
  const parts =
    chord === '+' ? ['+'] : chord.endsWith('++') ? [...chord.slice(0, -2).split('+'), '+'] : chord.split('+')
  const parsed: Chord = { mod: false, shift: false, alt: false, key: null, code: null }
  for (const part of parts) {
    if (part === 'Mod') parsed.mod = true
    else if (part === 'Shift') parsed.shift = true
    else if (part === 'Alt') parsed.alt = true
    else if (part.startsWith('code:')) parsed.code = part.slice(5)
    else parsed.key = part
  }
  chordCache.set(chord, parsed)
  return parsed
}

/** Whether a key's character already implies Shift (e.g. "?", "+", "<"), so Shift is not compared */
function shiftIsImplicit(key: string): boolean {
  return key.length === 1 && key.toLowerCase() === key.toUpperCase() && key !== ' '
}

/** Whether a keydown event is this chord */
export function matchesChord(event: KeyboardEvent, chord: string): boolean {
  const c = parseChord(chord)
  const mod = event.ctrlKey || event.metaKey
  if (mod !== c.mod || event.altKey !== c.alt) return false
  if (c.code !== null) return event.code === c.code && event.shiftKey === c.shift
  if (c.key === null) return false
  if (c.key.length === 1 && c.key.toLowerCase() !== c.key.toUpperCase()) {
    // A letter: compare case-insensitively; Shift must be as written.
    return event.key.toLowerCase() === c.key.toLowerCase() && event.shiftKey === c.shift
  }
  if (shiftIsImplicit(c.key)) return event.key === c.key
  const key = event.key === 'Spacebar' ? ' ' : event.key
  return key === c.key && event.shiftKey === c.shift
}

/** The first binding that a keydown event triggers, or null */
export function matchBinding(event: KeyboardEvent, bindings: readonly KeyBinding[]): KeyBinding | null {
  for (const binding of bindings) {
    if (binding.keys.some((chord) => matchesChord(event, chord))) return binding
  }
  return null
}

/** A chord as people read it: "Ctrl/⌘ + Shift + Z", "Space", "," */
export function describeChord(chord: string): string {
  const c = parseChord(chord)
  const names: Record<string, string> = {
    ' ': 'Space',
    ArrowLeft: '←',
    ArrowRight: '→',
    ArrowUp: '↑',
    ArrowDown: '↓',
    Comma: ',',
    Period: '.',
    Escape: 'Esc',
    Delete: 'Del',
  }
  const key = c.code !== null ? (names[c.code] ?? c.code.replace(/^Digit/, '')) : (names[c.key ?? ''] ?? c.key ?? '')
  const parts = [
    c.mod ? 'Ctrl/⌘' : '',
    c.shift ? 'Shift' : '',
    c.alt ? 'Alt' : '',
    key.length === 1 ? key.toUpperCase() : key,
  ]
  return parts.filter(Boolean).join(' + ')
}

export type KeyboardControllerEvents = {
  /** A binding fired */
  action: [binding: KeyBinding, event: KeyboardEvent]
}

export type KeyboardControllerOptions = {
  /** Where keydown is listened to, normally the document */
  target: Document | HTMLElement
  /** The bindings, in priority order */
  bindings: readonly KeyBinding[]
  /**
   * Runs the action; return false to leave the key to the browser (nothing is prevented).
   * Not called while the user types in an input, textarea, select or contenteditable.
   */
  handle: (binding: KeyBinding, event: KeyboardEvent) => boolean
}

/** Listens for keydown and runs the matching binding, except while the user is typing */
export class KeyboardController extends EventEmitter<KeyboardControllerEvents> {
  private readonly options: KeyboardControllerOptions
  private readonly onKeyDown = (event: Event) => {
    this.handleEvent(event as KeyboardEvent)
  }
  private enabled = true

  constructor(options: KeyboardControllerOptions) {
    super()
    this.options = options
    options.target.addEventListener('keydown', this.onKeyDown)
  }

  /** Turns every shortcut off (e.g. while a dialog is open) or on again */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled
  }

  /** Handles one keydown; returns the binding that ran, or null */
  handleEvent(event: KeyboardEvent): KeyBinding | null {
    if (!this.enabled || event.defaultPrevented || event.isComposing) return null
    if (isTypingTarget(event.target)) return null
    const binding = matchBinding(event, this.options.bindings)
    if (!binding) return null
    if (event.repeat && !binding.repeat) {
      event.preventDefault()
      return null
    }
    // Space and Enter on a focused button or link activate it; leave them to the browser.
    const plain = !event.ctrlKey && !event.metaKey && !event.altKey
    if (plain && (event.key === ' ' || event.key === 'Enter') && handlesSpaceNatively(event.target)) return null
    if (!this.options.handle(binding, event)) return null
    event.preventDefault()
    this.emit('action', binding, event)
    return binding
  }

  /** Stops listening */
  destroy(): void {
    this.options.target.removeEventListener('keydown', this.onKeyDown)
    this.unAll()
  }
}
