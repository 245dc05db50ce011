import type { ItemPlayerClient, ItemPlayerOptions } from './player'
import { ItemPlayer } from './player'

/** Options shared by every player mounted by `mountPlayers` */
export type MountOptions = Omit<ItemPlayerOptions, 'client' | 'itemId'>

/**
 * Mounts an ItemPlayer on every `[data-earmark-player][data-item-id]` element
 * under `root`. Elements without a valid positive integer id, or already
 * mounted, are skipped. Returns the new players.
 */
export function mountPlayers(root: ParentNode, client: ItemPlayerClient, options: MountOptions = {}): ItemPlayer[] {
  const players: ItemPlayer[] = []
  for (const container of root.querySelectorAll<HTMLElement>('[data-earmark-player][data-item-id]')) {
    if (container.dataset.earmarkMounted !== undefined) continue
    const raw = container.dataset.itemId ?? ''
    const itemId = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(itemId) || itemId <= 0) {
      console.warn(`earmark: ignoring player with invalid data-item-id="${raw}"`)
      continue
    }
    container.dataset.earmarkMounted = ''
    players.push(new ItemPlayer(container, { ...options, client, itemId }))
  }
  return players
}
