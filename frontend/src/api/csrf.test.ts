// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest'

import { readCsrfToken } from './client'

function clearCookies() {
  for (const part of document.cookie.split(';')) {
    const name = part.split('=')[0]?.trim()
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`
  }
}

describe('readCsrfToken', () => {
  afterEach(() => {
    clearCookies()
    document.body.replaceChildren()
  })

  it('reads the csrftoken cookie among others', () => {
    document.cookie = 'sessionid=s3cr3t; path=/'
    document.cookie = 'csrftoken=AbC123xyz; path=/'
    document.cookie = 'theme=dark; path=/'
    expect(readCsrfToken(document)).toBe('AbC123xyz')
  })

  it('URL-decodes the cookie value', () => {
    document.cookie = `csrftoken=${encodeURIComponent('a b/c')}; path=/`
    expect(readCsrfToken(document)).toBe('a b/c')
  })

  it('does not match cookies whose name merely ends with csrftoken', () => {
    document.cookie = 'xcsrftoken=nope; path=/'
    expect(readCsrfToken(document)).toBeUndefined()
  })

  it('returns undefined when there is no token', () => {
    expect(readCsrfToken(document)).toBeUndefined()
  })

  it('supports a custom cookie name', () => {
    document.cookie = 'earmark_csrf=zzz; path=/'
    expect(readCsrfToken(document, 'earmark_csrf')).toBe('zzz')
  })

  it('falls back to the csrfmiddlewaretoken hidden input', () => {
    document.body.innerHTML = '<form><input type="hidden" name="csrfmiddlewaretoken" value="fromform"></form>'
    expect(readCsrfToken(document)).toBe('fromform')
  })
})
