/**
 * LabelPalette: the segment labels as buttons with their colours and hotkeys; the active label
 * is what new segments get.
 */
import { h } from '../dom'
import type { SegmentLabelSchema } from '../types'

export class LabelPalette {
  private readonly buttons = new Map<string, HTMLButtonElement>()
  private readonly root: HTMLElement

  /** Draws the palette into `container`, replacing its content */
  constructor(container: HTMLElement, labels: readonly SegmentLabelSchema[], onPick: (label: string) => void) {
    const doc = container.ownerDocument
    this.root = h(doc, 'div', {
      class: 'em-palette',
      'data-testid': 'label-palette',
      role: 'toolbar',
      'aria-label': 'Segment label',
    })
    for (const label of labels) {
      const button = h(
        doc,
        'button',
        {
          type: 'button',
          class: 'em-palette__label',
          'data-testid': 'label-option',
          'data-label': label.name,
          'aria-pressed': 'false',
        },
        [
          h(doc, 'span', { class: 'em-swatch', style: `background:${label.color}` }),
          label.name,
          label.hotkey ? h(doc, 'kbd', {}, [label.hotkey]) : null,
        ],
      )
      button.addEventListener('click', () => {
        onPick(label.name)
      })
      this.buttons.set(label.name, button)
      this.root.append(button)
    }
    if (!labels.length) this.root.append(h(doc, 'span', { class: 'em-muted' }, ['This project has no segment labels.']))
    container.replaceChildren(this.root)
  }

  /** Marks the active label */
  setActive(label: string | null): void {
    for (const [name, button] of this.buttons) {
      const active = name === label
      button.setAttribute('aria-pressed', String(active))
      button.classList.toggle('em-palette__label--active', active)
    }
  }

  /** Removes it */
  destroy(): void {
    this.root.remove()
  }
}
