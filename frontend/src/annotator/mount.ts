import { Annotator, type AnnotatorOptions } from './annotator'
import { CompareView } from './compare/compare'
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

/** Whether the address asks for the compare view of the item (`?compare=1`) */
export function wantsCompare(search: string): boolean {
  const value = new URLSearchParams(search).get('compare')
  return value !== null && value !== '0' && value !== 'false'
}

/**
 * Mounts the annotator on the page's `[data-earmark-annotator]` element, once; on an item's
 * page with `?compare=1`, the reviewers' compare view of that item instead.
 */
export function mountAnnotator(
  doc: Document,
  client: SessionClient,
  options: Partial<Omit<AnnotatorOptions, 'container' | 'client' | 'config'>> = {},
): Annotator | CompareView | null {
  const mount = doc.querySelector<HTMLElement>('[data-earmark-annotator]')
  if (!mount || mount.dataset.earmarkMounted !== undefined) return null
  const config = readConfig(doc, mount)
  if (!config) return null
  mount.dataset.earmarkMounted = ''
  if (config.itemId !== null && wantsCompare(doc.defaultView?.location.search ?? '')) {
    return new CompareView({
      container: mount,
      client,
      projectId: config.projectId,
      itemId: config.itemId,
      projectUrl: config.urls.project,
      ...(options.storage !== undefined ? { storage: options.storage } : {}),
      ...(options.createWaveSurfer ? { createWaveSurfer: options.createWaveSurfer } : {}),
    })
  }
  return new Annotator({ ...options, container: mount, client, config })
}
