/**
 * SpectrogramSettingsPanel: frequency scale, FFT size, dB range and colour map of the
 * spectrogram, applied at once and remembered (see spectrogram/settings.ts).
 */
import { h } from '../dom'
import { clampSettings, DB_LIMITS } from '../spectrogram/settings'
import type { SpectrogramInfo, SpectrogramSettings } from '../types'

export class SpectrogramSettingsPanel {
  private readonly root: HTMLElement

  /** Draws the panel into `container` (hidden until toggled) */
  constructor(
    container: HTMLElement,
    info: SpectrogramInfo,
    settings: SpectrogramSettings,
    onChange: (settings: SpectrogramSettings) => void,
  ) {
    const doc = container.ownerDocument
    const select = (
      field: keyof SpectrogramSettings,
      values: ReadonlyArray<string | number>,
      current: string | number,
    ) => {
      const el = h(doc, 'select', { 'data-field': field, 'data-testid': `spectrogram-${field.replace('_', '-')}` })
      for (const v of values) {
        const option = h(doc, 'option', { value: String(v) }, [String(v)])
        option.selected = v === current
        el.append(option)
      }
      return el
    }
    const number = (field: 'db_min' | 'db_max', value: number) =>
      h(doc, 'input', {
        type: 'number',
        step: 5,
        min: info.db_limits?.[0] ?? DB_LIMITS.min,
        max: info.db_limits?.[1] ?? DB_LIMITS.max,
        value,
        'data-field': field,
        'data-testid': `spectrogram-${field.replace('_', '-')}`,
      })
    const field = (label: string, input: HTMLElement) =>
      h(doc, 'label', { class: 'em-field' }, [h(doc, 'span', {}, [label]), input])
    this.root = h(doc, 'div', { class: 'em-spectro-settings', 'data-testid': 'spectrogram-settings', hidden: true }, [
      field('Scale', select('scale', info.scales, settings.scale)),
      field('FFT size', select('n_fft', info.n_ffts, settings.n_fft)),
      field('dB min', number('db_min', settings.db_min)),
      field('dB max', number('db_max', settings.db_max)),
      field('Colours', select('cmap', info.cmaps, settings.cmap)),
    ])
    this.root.addEventListener('change', () => {
      const read = (f: string) =>
        this.root.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-field="${f}"]`)?.value ?? ''
      const next = clampSettings(
        {
          scale: read('scale'),
          n_fft: Number(read('n_fft')),
          db_min: Number(read('db_min')),
          db_max: Number(read('db_max')),
          cmap: read('cmap'),
        },
        info,
      )
      onChange(next)
    })
    container.append(this.root)
  }

  /** Shows or hides it; returns whether it is now shown */
  toggle(): boolean {
    this.root.hidden = !this.root.hidden
    return !this.root.hidden
  }

  /** Removes it */
  destroy(): void {
    this.root.remove()
  }
}
