/**
 * HelpOverlay: the keyboard map, generated from the same bindings the key handler uses.
 */
import { h } from '../dom'
import { describeChord, type KeyBinding, SECTIONS } from '../keymap'

export class HelpOverlay {
  private readonly root: HTMLElement

  /** Builds the (hidden) overlay inside `container` */
  constructor(container: HTMLElement, bindings: readonly KeyBinding[], onClose: () => void) {
    const doc = container.ownerDocument
    const close = h(doc, 'button', { type: 'button', class: 'em-button', 'data-testid': 'help-close' }, ['Close (Esc)'])
    close.addEventListener('click', onClose)
    const sections = SECTIONS.map((section) => {
      const rows = bindings
        .filter((b) => b.section === section && b.help)
        .map((b) =>
          h(doc, 'tr', { 'data-action': b.action }, [
            h(
              doc,
              'td',
              { class: 'em-help__keys' },
              b.display
                ? [h(doc, 'kbd', {}, [b.display])]
                : b.keys.flatMap((k, i) => [i ? ' or ' : '', h(doc, 'kbd', {}, [describeChord(k)])]),
            ),
            h(doc, 'td', {}, [b.help]),
          ]),
        )
      return rows.length ? h(doc, 'section', {}, [h(doc, 'h3', {}, [section]), h(doc, 'table', {}, rows)]) : null
    })
    this.root = h(
      doc,
      'div',
      {
        class: 'em-help',
        role: 'dialog',
        'aria-modal': 'true',
        'aria-label': 'Keyboard shortcuts',
        'data-testid': 'help-overlay',
        hidden: true,
      },
      [
        h(doc, 'div', { class: 'em-help__panel' }, [
          h(doc, 'div', { class: 'em-help__header' }, [h(doc, 'h2', {}, ['Keyboard shortcuts']), close]),
          h(doc, 'p', { class: 'em-muted' }, [
            'Shortcuts do nothing while you type in a field; Esc leaves the field. ',
            'Label hotkeys of this project win over built-in keys.',
          ]),
          h(doc, 'div', { class: 'em-help__grid' }, sections),
        ]),
      ],
    )
    this.root.addEventListener('click', (event) => {
      if (event.target === this.root) onClose()
    })
    container.append(this.root)
  }

  /** Whether it is showing */
  isOpen(): boolean {
    return !this.root.hidden
  }

  /** Shows or hides it */
  setOpen(open: boolean): void {
    this.root.hidden = !open
  }

  /** Removes it */
  destroy(): void {
    this.root.remove()
  }
}
