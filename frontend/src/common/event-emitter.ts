/** Event name → listener argument tuple, as in wavesurfer.js */
export type GeneralEventTypes = Record<string, unknown[]>

type EventListener<EventTypes extends GeneralEventTypes, EventName extends keyof EventTypes> = (
  ...args: EventTypes[EventName]
) => void

/** A minimal typed event emitter modelled on wavesurfer.js's own */
export default class EventEmitter<EventTypes extends GeneralEventTypes> {
  private listeners = new Map<keyof EventTypes, Set<EventListener<EventTypes, keyof EventTypes>>>()

  /** Subscribe to an event. Returns an unsubscribe function. */
  on<EventName extends keyof EventTypes>(
    event: EventName,
    listener: EventListener<EventTypes, EventName>,
    options?: { once?: boolean },
  ): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    const registered = (
      options?.once
        ? (...args: EventTypes[EventName]) => {
            unsubscribe()
            listener(...args)
          }
        : listener
    ) as EventListener<EventTypes, keyof EventTypes>
    const unsubscribe = () => {
      this.listeners.get(event)?.delete(registered)
    }
    set.add(registered)
    return unsubscribe
  }

  /** Subscribe to an event only once. Returns an unsubscribe function. */
  once<EventName extends keyof EventTypes>(
    event: EventName,
    listener: EventListener<EventTypes, EventName>,
  ): () => void {
    return this.on(event, listener, { once: true })
  }

  /** Remove every listener of every event */
  unAll(): void {
    this.listeners.clear()
  }

  /** Emit an event to its current listeners */
  protected emit<EventName extends keyof EventTypes>(event: EventName, ...args: EventTypes[EventName]): void {
    const set = this.listeners.get(event)
    if (!set) return
    // Copy so listeners may unsubscribe while being called.
    for (const listener of [...set]) {
      ;(listener as EventListener<EventTypes, EventName>)(...args)
    }
  }
}
