/**
 * True when a key event target is somewhere the user types text, so global
 * shortcuts (e.g. Space for play/pause) must not fire: any <input>, <textarea>,
 * <select>, or an element inside a contenteditable region.
 */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!isElement(target)) return false
  const tag = target.tagName
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return true
  if ((target as Partial<HTMLElement>).isContentEditable === true) return true
  // `isContentEditable` is not implemented everywhere (e.g. jsdom), so check the attribute too.
  const editableHost = target.closest('[contenteditable]')
  return editableHost !== null && editableHost.getAttribute('contenteditable')?.toLowerCase() !== 'false'
}

/**
 * True when the browser itself handles Space on this target (activating a
 * button, link or checkbox), so a global Space shortcut would double-fire.
 */
export function handlesSpaceNatively(target: EventTarget | null): boolean {
  if (!isElement(target)) return false
  return target.closest('button, a[href], summary, [role="button"], [role="checkbox"], [role="switch"]') !== null
}

function isElement(target: EventTarget | null): target is Element {
  return typeof Element !== 'undefined' && target instanceof Element
}
