import { Annotator, type AnnotatorOptions } from './annotator'
import type { SessionClient } from './session'
import type { AnnotatorConfig } from './types'

/**
 * Reads the page configuration that Django renders with `json_script`: the element named by
 * the mount point's `data-config-id` (default "earmark-annotator-config"). Returns null, with a
 * console warning, when it is missing or malformed.
 */
export function readConfig(doc: Document, mount: HTMLElement): AnnotatorConfig | null {
  const id = mount.dataset.configId ?? 'earmark-annotator-config'
  const script = doc.getElementById(id)
  if (!script?.textContent) {
    console.warn(`earmark: annotator config #${id} not found`)
    return null
  }
  try {
    const raw = JSON.parse(script.textContent) as Partial<Record<keyof AnnotatorConfig, unknown>> & {
      urls?: Partial<AnnotatorConfig['urls']>
    }
    const projectId = Number(raw.projectId)
    const itemId = raw.itemId === null || raw.itemId === undefined ? null : Number(raw.itemId)
    if (
      !Number.isSafeInteger(projectId) ||
      projectId <= 0 ||
      (itemId !== null && (!Number.isSafeInteger(itemId) || itemId <= 0))
    ) {
      console.warn('earmark: annotator config has no valid projectId/itemId')
      return null
    }
    return {
      projectId,
      itemId,
      username: typeof raw.username === 'string' ? raw.username : '',
      urls: {
        project: raw.urls?.project ?? `/projects/${projectId}/`,
        itemAnnotate: raw.urls?.itemAnnotate ?? '/items/{id}/annotate/',
      },
    }
  } catch {
    console.warn(`earmark: annotator config #${id} is not JSON`)
    return null
  }
}

/** Mounts the annotator on the page's `[data-earmark-annotator]` element, once */
export function mountAnnotator(
  doc: Document,
  client: SessionClient,
  options: Partial<Omit<AnnotatorOptions, 'container' | 'client' | 'config'>> = {},
): Annotator | null {
  const mount = doc.querySelector<HTMLElement>('[data-earmark-annotator]')
  if (!mount || mount.dataset.earmarkMounted !== undefined) return null
  const config = readConfig(doc, mount)
  if (!config) return null
  mount.dataset.earmarkMounted = ''
  return new Annotator({ ...options, container: mount, client, config })
}
