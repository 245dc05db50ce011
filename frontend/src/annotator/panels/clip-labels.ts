/**
 * ClipLabelsPanel: the clip label groups (radio buttons for single-choice groups, checkboxes
 * for multi-choice ones), the model's suggested labels with their scores, and keyboard
 * navigation: ↑/↓ (or ←/→) move between options without choosing, Space or Enter choose,
 * Esc leaves the panel. Options are numbered 1… so that Alt+number picks them from anywhere.
 */
import type { AnnotationModel } from '../model'
import type { ClipGroupSchema } from '../types'
import { h } from '../dom'

/** group → label → score */
export type ClipSuggestions = Record<string, Record<string, number>>

export type ClipLabelsPanelOptions = {
  /** Where the panel is drawn (its content is replaced) */
  container: HTMLElement
  /** The groups, in order */
  groups: readonly ClipGroupSchema[]
  /** The model the choices go to */
  model: AnnotationModel
  /** The model's scores, shown next to the labels */
  suggestions?: ClipSuggestions
  /** Called when Esc leaves the panel */
  onExit?: () => void
}

/** Labels a suggestion proposes for a group: the best one in a single-choice group, those ≥ 0.5 in a multi-choice one */
export function suggestedLabels(group: ClipGroupSchema, scores: Record<string, number> | undefined): string[] {
  if (!scores) return []
  const known = group.labels.filter((l) => typeof scores[l] === 'number')
  if (!known.length) return []
  if (group.choice === 'single') {
    const best = known.reduce((a, b) => ((scores[b] ?? 0) > (scores[a] ?? 0) ? b : a))
    return [best]
  }
  return known.filter((l) => (scores[l] ?? 0) >= 0.5)
}

export class ClipLabelsPanel {
  private readonly options: ClipLabelsPanelOptions
  private readonly inputs: HTMLInputElement[] = []
  private readonly groupEls = new Map<string, HTMLElement>()
  private readonly cleanups: Array<() => void> = []

  constructor(options: ClipLabelsPanelOptions) {
    this.options = options
    const doc = options.container.ownerDocument
    const root = h(doc, 'div', { class: 'em-clip', 'data-testid': 'clip-labels' })
    let number = 0
    for (const group of options.groups) {
      const scores = options.suggestions?.[group.name]
      const suggested = new Set(suggestedLabels(group, scores))
      const fieldset = h(doc, 'fieldset', {
        class: 'em-clip__group',
        'data-testid': 'clip-group',
        'data-group': group.name,
      })
      const legend = h(doc, 'legend', {}, [
        group.name,
        group.required ? h(doc, 'span', { class: 'em-clip__required', title: 'required' }, [' *']) : null,
        group.choice === 'multi' ? h(doc, 'span', { class: 'em-muted' }, [' (any)']) : null,
      ])
      fieldset.append(legend)
      for (const label of group.labels) {
        number++
        const input = h(doc, 'input', {
          type: group.choice === 'single' ? 'radio' : 'checkbox',
          name: `em-clip-${group.name}`,
          value: label,
          'data-testid': 'clip-label-input',
          'data-group': group.name,
          'data-label': label,
          'data-number': number,
        })
        input.checked = options.model.hasClipLabel(group.name, label)
        this.inputs.push(input)
        const score = scores?.[label]
        fieldset.append(
          h(
            doc,
            'label',
            { class: suggested.has(label) ? 'em-clip__option em-clip__option--suggested' : 'em-clip__option' },
            [
              input,
              number <= 9 ? h(doc, 'kbd', { class: 'em-clip__num', title: `Alt+${number}` }, [String(number)]) : null,
              h(doc, 'span', { class: 'em-clip__text' }, [label]),
              typeof score === 'number'
                ? h(doc, 'span', { class: 'em-clip__score', 'data-testid': 'clip-label-score' }, [score.toFixed(2)])
                : null,
            ],
          ),
        )
      }
      if (suggested.size) {
        const accept = h(
          doc,
          'button',
          { type: 'button', class: 'em-link', 'data-testid': 'clip-suggestion-accept', 'data-group': group.name },
          [`Use suggestion (${[...suggested].join(', ')})`],
        )
        accept.addEventListener('click', () => {
          this.acceptSuggestion(group.name)
        })
        fieldset.append(accept)
      }
      fieldset.append(h(doc, 'p', { class: 'em-clip__error', hidden: true, 'data-testid': 'clip-group-error' }))
      this.groupEls.set(group.name, fieldset)
      root.append(fieldset)
    }
    if (!options.groups.length) root.append(h(doc, 'p', { class: 'em-muted' }, ['This project has no clip labels.']))
    options.container.replaceChildren(root)

    const onChange = (event: Event) => {
      const input = event.target
      if (!(input instanceof HTMLInputElement) || !input.dataset.group || !input.dataset.label) return
      options.model.setClipLabel(input.dataset.group, input.dataset.label, input.checked)
      this.markMissing([])
    }
    // A checked radio button cannot be unchecked by clicking it; let a click on the chosen
    // option of a group that is not required clear it.
    const onClick = (event: MouseEvent) => {
      const input = event.target
      if (!(input instanceof HTMLInputElement) || input.type !== 'radio') return
      if (input.dataset.wasChecked === 'true') {
        const group = options.groups.find((g) => g.name === input.dataset.group)
        if (group && !group.required && input.dataset.label) {
          input.checked = false
          options.model.setClipLabel(group.name, input.dataset.label, false)
        }
      }
    }
    const onPointerDown = (event: Event) => {
      const input = (event.target as Element | null)?.closest('label')?.querySelector('input')
      if (input) input.dataset.wasChecked = String(input.checked)
    }
    const onKeyDown = (event: KeyboardEvent) => {
      this.onKeyDown(event)
    }
    root.addEventListener('change', onChange)
    root.addEventListener('click', onClick)
    root.addEventListener('pointerdown', onPointerDown)
    root.addEventListener('keydown', onKeyDown)
    this.cleanups.push(() => {
      root.removeEventListener('change', onChange)
      root.removeEventListener('click', onClick)
      root.removeEventListener('pointerdown', onPointerDown)
      root.removeEventListener('keydown', onKeyDown)
    })
  }

  /** Shows the model's choices (after undo, redo, load) */
  refresh(): void {
    for (const input of this.inputs) {
      const checked = this.options.model.hasClipLabel(input.dataset.group ?? '', input.dataset.label ?? '')
      if (input.checked !== checked) input.checked = checked
    }
  }

  /** Puts the keyboard focus on the first group's chosen option (or its first option) */
  focus(): void {
    const target = this.inputs.find((i) => i.checked) ?? this.inputs[0]
    target?.focus()
  }

  /** Whether the keyboard focus is in the panel */
  hasFocus(): boolean {
    const active = this.options.container.ownerDocument.activeElement
    return active !== null && this.options.container.contains(active)
  }

  /** Flips option number `n` (1-based, as shown); returns false when there is none */
  toggleNumber(n: number): boolean {
    const input = this.inputs[n - 1]
    if (!input?.dataset.group || !input.dataset.label) return false
    const group = this.options.groups.find((g) => g.name === input.dataset.group)
    const chosen = this.options.model.hasClipLabel(input.dataset.group, input.dataset.label)
    // In a required single-choice group, picking the chosen label again keeps it.
    if (chosen && group?.choice === 'single' && group.required) return true
    this.options.model.setClipLabel(input.dataset.group, input.dataset.label, !chosen)
    this.refresh()
    this.markMissing([])
    return true
  }

  /** Chooses what the model suggests for a group */
  acceptSuggestion(groupName: string): void {
    const group = this.options.groups.find((g) => g.name === groupName)
    if (!group) return
    for (const label of suggestedLabels(group, this.options.suggestions?.[groupName])) {
      this.options.model.setClipLabel(groupName, label, true)
    }
    this.refresh()
  }

  /** Marks the required groups that still need a label (an empty list clears the marks) */
  markMissing(groups: readonly string[]): void {
    for (const [name, el] of this.groupEls) {
      const missing = groups.includes(name)
      el.classList.toggle('em-clip__group--missing', missing)
      const error = el.querySelector<HTMLElement>('.em-clip__error')
      if (error) {
        error.hidden = !missing
        error.textContent = missing ? 'Choose a label here before submitting.' : ''
      }
    }
  }

  /** Removes listeners */
  destroy(): void {
    this.cleanups.forEach((f) => {
      f()
    })
    this.options.container.replaceChildren()
  }

  private onKeyDown(event: KeyboardEvent) {
    const target = event.target
    if (!(target instanceof HTMLInputElement)) return
    const index = this.inputs.indexOf(target)
    if (index < 0) return
    // Space and Enter click the option; remember whether it was chosen (see onClick).
    target.dataset.wasChecked = String(target.checked)
    if (event.key === 'Escape') {
      event.preventDefault()
      target.blur()
      this.options.onExit?.()
      return
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return
    const step =
      event.key === 'ArrowDown' || event.key === 'ArrowRight'
        ? 1
        : event.key === 'ArrowUp' || event.key === 'ArrowLeft'
          ? -1
          : 0
    if (step) {
      // Move without choosing (radio buttons would otherwise choose on arrows).
      event.preventDefault()
      const next = this.inputs[(index + step + this.inputs.length) % this.inputs.length]
      next?.focus()
      return
    }
    if (event.key === 'Enter') {
      event.preventDefault()
      target.click()
    }
  }
}
