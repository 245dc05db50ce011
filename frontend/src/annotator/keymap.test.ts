// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'

import {
  buildKeymap,
  DEFAULT_BINDINGS,
  describeChord,
  KeyboardController,
  type KeyBinding,
  matchBinding,
  matchesChord,
  parseChord,
} from './keymap'

function key(init: KeyboardEventInit): KeyboardEvent {
  return new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init })
}

const LABELS = [
  { name: 'dog', color: '#e6194b', hotkey: '1' },
  { name: 'bird', color: '#3cb44b', hotkey: 'j' },
  { name: 'car', color: '#4363d8', hotkey: '' },
]

function action(init: KeyboardEventInit, bindings: readonly KeyBinding[] = buildKeymap(LABELS)) {
  const b = matchBinding(key(init), bindings)
  return b ? [b.action, b.arg] : null
}

describe('chords', () => {
  it('parses modifiers, keys and codes, including "+" itself', () => {
    expect(parseChord('Mod+Shift+Z')).toMatchObject({ mod: true, shift: true, alt: false, key: 'Z', code: null })
    expect(parseChord('Alt+code:Comma')).toMatchObject({ alt: true, code: 'Comma', key: null })
    expect(parseChord('+')).toMatchObject({ key: '+', mod: false })
    expect(parseChord('Mod++')).toMatchObject({ key: '+', mod: true })
  })

  it('treats Ctrl and ⌘ alike and requires the other modifiers as written', () => {
    expect(matchesChord(key({ key: 'z', ctrlKey: true }), 'Mod+z')).toBe(true)
    expect(matchesChord(key({ key: 'z', metaKey: true }), 'Mod+z')).toBe(true)
    expect(matchesChord(key({ key: 'Z', ctrlKey: true, shiftKey: true }), 'Mod+z')).toBe(false)
    expect(matchesChord(key({ key: 'Z', ctrlKey: true, shiftKey: true }), 'Mod+Shift+Z')).toBe(true)
    expect(matchesChord(key({ key: 'z' }), 'Mod+z')).toBe(false)
    expect(matchesChord(key({ key: 'z', altKey: true, ctrlKey: true }), 'Mod+z')).toBe(false)
  })

  it('ignores Shift for characters that need it on some layouts', () => {
    expect(matchesChord(key({ key: '?', shiftKey: true }), '?')).toBe(true)
    expect(matchesChord(key({ key: '+', shiftKey: true }), '+')).toBe(true)
    expect(matchesChord(key({ key: '[' }), '[')).toBe(true)
  })

  it('matches physical keys by code whatever character Alt produces', () => {
    expect(matchesChord(key({ key: '≤', code: 'Comma', altKey: true }), 'Alt+code:Comma')).toBe(true)
    expect(matchesChord(key({ key: '<', code: 'Comma', shiftKey: true }), 'Shift+code:Comma')).toBe(true)
    expect(matchesChord(key({ key: '<', code: 'Comma', shiftKey: true }), 'code:Comma')).toBe(false)
  })

  it('describes chords for people', () => {
    expect(describeChord('Mod+Shift+Z')).toBe('Ctrl/⌘ + Shift + Z')
    expect(describeChord(' ')).toBe('Space')
    expect(describeChord('Alt+code:Comma')).toBe('Alt + ,')
    expect(describeChord('Shift+ArrowLeft')).toBe('Shift + ←')
  })
})

describe('the keymap', () => {
  it.each([
    [{ key: ' ' }, ['playPause', undefined]],
    [{ key: 'ArrowLeft' }, ['seek', -1]],
    [{ key: 'ArrowRight' }, ['seek', 1]],
    [{ key: 'ArrowLeft', shiftKey: true }, ['seek', -5]],
    [{ key: 'ArrowRight', shiftKey: true }, ['seek', 5]],
    [{ key: '+', shiftKey: true }, ['zoomIn', undefined]],
    [{ key: '=' }, ['zoomIn', undefined]],
    [{ key: '-' }, ['zoomOut', undefined]],
    [{ key: '[' }, ['markStart', undefined]],
    [{ key: ']' }, ['markEnd', undefined]],
    [{ key: 'Tab' }, ['selectNext', undefined]],
    [{ key: 'Tab', shiftKey: true }, ['selectPrevious', undefined]],
    [{ key: 'k' }, ['selectPrevious', undefined]],
    [{ key: 'Delete' }, ['deleteSelected', undefined]],
    [{ key: 'Backspace' }, ['deleteSelected', undefined]],
    [{ key: 'z', ctrlKey: true }, ['undo', undefined]],
    [{ key: 'Z', ctrlKey: true, shiftKey: true }, ['redo', undefined]],
    [{ key: 'y', ctrlKey: true }, ['redo', undefined]],
    [{ key: ',', code: 'Comma' }, ['nudgeStart', -0.01]],
    [{ key: '>', code: 'Period', shiftKey: true }, ['nudgeStart', 0.1]],
    [{ key: '≥', code: 'Period', altKey: true }, ['nudgeEnd', 0.01]],
    [{ key: '¯', code: 'Comma', altKey: true, shiftKey: true }, ['nudgeEnd', -0.1]],
    [{ key: 'c' }, ['focusClipLabels', undefined]],
    [{ key: '¡', code: 'Digit1', altKey: true }, ['toggleClipLabel', 1]],
    [{ key: 'Enter', ctrlKey: true }, ['submit', undefined]],
    [{ key: 'S', ctrlKey: true, shiftKey: true }, ['skip', undefined]],
    [{ key: '?', shiftKey: true }, ['help', undefined]],
    [{ key: 'Escape' }, ['escape', undefined]],
  ])('%o → %o', (init, expected) => {
    expect(action(init)).toEqual(expected)
  })

  it('puts schema hotkeys first, so they win over built-in keys', () => {
    expect(action({ key: '1' })).toEqual(['setLabel', 'dog'])
    // "j" is a built-in (next segment), but this project uses it for "bird".
    expect(action({ key: 'j' })).toEqual(['setLabel', 'bird'])
    // Without the schema, "j" selects the next segment.
    expect(action({ key: 'j' }, DEFAULT_BINDINGS)).toEqual(['selectNext', undefined])
    // Labels without a hotkey get no binding; Tab still selects.
    expect(buildKeymap(LABELS).filter((b) => b.action === 'setLabel')).toHaveLength(2)
  })

  it('has no chord bound twice among the built-ins', () => {
    const seen = new Map<string, string>()
    for (const b of DEFAULT_BINDINGS) {
      for (const chord of b.keys) {
        expect(seen.get(chord), `${chord} is bound to ${seen.get(chord) ?? ''} and ${b.action}`).toBeUndefined()
        seen.set(chord, b.action)
      }
    }
  })
})

describe('KeyboardController', () => {
  afterEach(() => {
    document.body.replaceChildren()
  })

  function setup(handle: (b: KeyBinding) => boolean = () => true) {
    const fired: string[] = []
    const controller = new KeyboardController({
      target: document,
      bindings: buildKeymap(LABELS),
      handle: (b) => {
        fired.push(b.action)
        return handle(b)
      },
    })
    return { controller, fired }
  }

  function press(target: EventTarget, init: KeyboardEventInit) {
    const event = key(init)
    target.dispatchEvent(event)
    return event
  }

  it('runs the binding and prevents the browser default', () => {
    const { controller, fired } = setup()
    const event = press(document.body, { key: ' ' })
    expect(fired).toEqual(['playPause'])
    expect(event.defaultPrevented).toBe(true)
    controller.destroy()
  })

  it.each([
    ['a text input', '<input type="text">'],
    ['a number input', '<input type="number">'],
    ['a checkbox (clip labels handle their own keys)', '<input type="checkbox">'],
    ['a textarea', '<textarea></textarea>'],
    ['a select', '<select><option>a</option></select>'],
    ['a contenteditable', '<div contenteditable="true"><span>x</span></div>'],
  ])('never fires while typing in %s', (_name, markup) => {
    const { controller, fired } = setup()
    document.body.innerHTML = markup
    const target = document.body.querySelector('span') ?? document.body.firstElementChild
    if (!target) throw new Error('bad markup')
    for (const init of [
      { key: ' ' },
      { key: '1' },
      { key: 'Delete' },
      { key: 'z', ctrlKey: true },
      { key: 'Enter', ctrlKey: true },
    ]) {
      const event = press(target, init)
      expect(event.defaultPrevented).toBe(false)
    }
    expect(fired).toEqual([])
    controller.destroy()
  })

  it('leaves Space and Enter on a focused button to the browser', () => {
    const { controller, fired } = setup()
    document.body.innerHTML = '<button>Submit</button>'
    const button = document.querySelector('button')
    if (!button) throw new Error('no button')
    expect(press(button, { key: ' ' }).defaultPrevented).toBe(false)
    expect(press(button, { key: 'Enter' }).defaultPrevented).toBe(false)
    // Other shortcuts still work from a button.
    press(button, { key: '[' })
    expect(fired).toEqual(['markStart'])
    controller.destroy()
  })

  it('ignores key repeats except for repeatable actions', () => {
    const { controller, fired } = setup()
    press(document.body, { key: ' ', repeat: true })
    press(document.body, { key: 'ArrowRight', repeat: true })
    expect(fired).toEqual(['seek'])
    controller.destroy()
  })

  it('does not prevent the default when the handler declines', () => {
    const { controller } = setup(() => false)
    expect(press(document.body, { key: 'Tab' }).defaultPrevented).toBe(false)
    controller.destroy()
  })

  it('stops listening when destroyed or disabled', () => {
    const handle = vi.fn(() => true)
    const controller = new KeyboardController({ target: document, bindings: DEFAULT_BINDINGS, handle })
    controller.setEnabled(false)
    press(document.body, { key: ' ' })
    controller.setEnabled(true)
    press(document.body, { key: ' ' })
    controller.destroy()
    press(document.body, { key: ' ' })
    expect(handle).toHaveBeenCalledTimes(1)
  })
})
