// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest'

import { handlesSpaceNatively, isTypingTarget } from './keyboard'

function html(markup: string): HTMLElement {
  document.body.innerHTML = markup
  const target = document.querySelector<HTMLElement>('[data-target]')
  if (!target) throw new Error('no [data-target] in markup')
  return target
}

describe('isTypingTarget', () => {
  afterEach(() => {
    document.body.replaceChildren()
  })

  it.each([
    ['a text input', '<input data-target type="text">'],
    ['a search input', '<input data-target type="search">'],
    ['a number input', '<input data-target type="number">'],
    ['a textarea', '<textarea data-target></textarea>'],
    ['a select', '<select data-target><option>a</option></select>'],
    ['a contenteditable element', '<div data-target contenteditable="true">x</div>'],
    ['an empty contenteditable attribute', '<div data-target contenteditable>x</div>'],
    ['plaintext-only contenteditable', '<div data-target contenteditable="plaintext-only">x</div>'],
    ['a child of a contenteditable', '<div contenteditable="true"><p><b data-target>x</b></p></div>'],
  ])('is true for %s', (_name, markup) => {
    expect(isTypingTarget(html(markup))).toBe(true)
  })

  it.each([
    ['the body', '<div></div>'],
    ['a plain div', '<div data-target>x</div>'],
    ['a button', '<button data-target>Play</button>'],
    ['contenteditable="false"', '<div data-target contenteditable="false">x</div>'],
    [
      'a non-editable island inside an editor',
      '<div contenteditable><span contenteditable="false" data-target>x</span></div>',
    ],
  ])('is false for %s', (_name, markup) => {
    const target = markup.includes('data-target') ? html(markup) : document.body
    expect(isTypingTarget(target)).toBe(false)
  })

  it('is false for non-elements', () => {
    expect(isTypingTarget(null)).toBe(false)
    expect(isTypingTarget(document)).toBe(false)
    expect(isTypingTarget(window)).toBe(false)
    expect(isTypingTarget(document.createTextNode('x'))).toBe(false)
  })
})

describe('handlesSpaceNatively', () => {
  afterEach(() => {
    document.body.replaceChildren()
  })

  it('is true for buttons, links and their children', () => {
    expect(handlesSpaceNatively(html('<button data-target>Play</button>'))).toBe(true)
    expect(handlesSpaceNatively(html('<button><span data-target>Play</span></button>'))).toBe(true)
    expect(handlesSpaceNatively(html('<a href="/x" data-target>x</a>'))).toBe(true)
    expect(handlesSpaceNatively(html('<div role="button" data-target>x</div>'))).toBe(true)
  })

  it('is false for plain content', () => {
    expect(handlesSpaceNatively(html('<div data-target>x</div>'))).toBe(false)
    expect(handlesSpaceNatively(document.body)).toBe(false)
    expect(handlesSpaceNatively(null)).toBe(false)
  })
})
