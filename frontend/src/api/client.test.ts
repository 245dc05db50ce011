import { describe, expect, it, vi } from 'vitest'

import { ApiClient, ApiError } from './client'

type Call = { url: string; init: RequestInit }

function mockFetch(...responses: Array<Response | (() => Response)>) {
  const calls: Call[] = []
  const fetch = vi.fn((input: string, init?: RequestInit) => {
    calls.push({ url: input, init: init ?? {} })
    const next = responses.shift()
    if (!next) throw new Error(`unexpected request ${input}`)
    return Promise.resolve(typeof next === 'function' ? next() : next)
  })
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function headersOf(call: Call | undefined): Record<string, string> {
  return (call?.init.headers ?? {}) as Record<string, string>
}

describe('ApiClient', () => {
  it('GETs JSON with the session cookie and no CSRF header', async () => {
    const { fetch, calls } = mockFetch(json({ id: 1 }))
    const client = new ApiClient({ baseUrl: '', csrfToken: 'tok', fetch })

    const result = await client.get<{ id: number }>('/api/items/1/', { target_bins: 800, skip: undefined, q: null })

    expect(result).toEqual({ id: 1 })
    expect(calls).toHaveLength(1)
    expect(calls[0]?.url).toBe('/api/items/1/?target_bins=800')
    expect(calls[0]?.init.method).toBe('GET')
    expect(calls[0]?.init.credentials).toBe('same-origin')
    expect(headersOf(calls[0])).not.toHaveProperty('X-CSRFToken')
    expect(headersOf(calls[0])).toHaveProperty('Accept', 'application/json')
    expect(calls[0]?.init.body).toBeUndefined()
  })

  it('POSTs a JSON body with the CSRF token', async () => {
    const { fetch, calls } = mockFetch(json({ id: 5 }, 201))
    const client = new ApiClient({ baseUrl: 'https://earmark.test/', csrfToken: 'tok', fetch })

    const result = await client.post<{ id: number }>('/api/projects/', { name: 'Birds' })

    expect(result).toEqual({ id: 5 })
    expect(calls[0]?.url).toBe('https://earmark.test/api/projects/')
    expect(calls[0]?.init.method).toBe('POST')
    expect(calls[0]?.init.body).toBe('{"name":"Birds"}')
    expect(headersOf(calls[0])).toMatchObject({ 'X-CSRFToken': 'tok', 'Content-Type': 'application/json' })
  })

  it('sends the CSRF token on PATCH and DELETE, and accepts 204', async () => {
    const { fetch, calls } = mockFetch(json({ ok: true }), new Response(null, { status: 204 }))
    const client = new ApiClient({ baseUrl: '', csrfToken: 'tok', fetch })

    await client.patch('/api/items/1/', { original_name: 'a.wav' })
    await expect(client.delete('/api/items/1/')).resolves.toBeUndefined()

    expect(calls.map((c) => c.init.method)).toEqual(['PATCH', 'DELETE'])
    expect(calls.map((c) => headersOf(c)['X-CSRFToken'])).toEqual(['tok', 'tok'])
  })

  it('omits the CSRF header when no token is known', async () => {
    const { fetch, calls } = mockFetch(json({}))
    await new ApiClient({ baseUrl: '', fetch }).post('/api/x/', {})
    expect(headersOf(calls[0])).not.toHaveProperty('X-CSRFToken')
  })

  it('parses the backend error JSON into an ApiError with fields', async () => {
    const body = {
      error: {
        code: 'validation_error',
        message: 'Invalid input.',
        fields: { 'segments.0.start_s': ['must be below end_s'], label: ['required', 'too short'] },
      },
    }
    const { fetch } = mockFetch(json(body, 400))
    const client = new ApiClient({ baseUrl: '', fetch })

    const error = await client.post('/api/items/1/annotations/', {}).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(ApiError)
    expect(error).toBeInstanceOf(Error)
    const apiError = error as ApiError
    expect(apiError.name).toBe('ApiError')
    expect(apiError.status).toBe(400)
    expect(apiError.code).toBe('validation_error')
    expect(apiError.detail).toBe('Invalid input.')
    expect(apiError.message).toBe('Invalid input.')
    expect(apiError.fields).toEqual({
      'segments.0.start_s': ['must be below end_s'],
      label: ['required', 'too short'],
    })
  })

  it('defaults fields to {} when the error has none', async () => {
    const { fetch } = mockFetch(json({ error: { code: 'not_found', message: 'No such item.' } }, 404))
    const error = (await new ApiClient({ baseUrl: '', fetch })
      .get('/api/items/9/')
      .catch((e: unknown) => e)) as ApiError
    expect(error.code).toBe('not_found')
    expect(error.status).toBe(404)
    expect(error.fields).toEqual({})
  })

  it('handles non-JSON error bodies', async () => {
    const html = new Response('<html><body>Bad Gateway</body></html>', { status: 502, statusText: 'Bad Gateway' })
    const plain = new Response('upstream timed out', { status: 504, statusText: 'Gateway Timeout' })
    const empty = new Response('', { status: 500 })
    const { fetch } = mockFetch(html, plain, empty)
    const client = new ApiClient({ baseUrl: '', fetch })

    const e1 = (await client.get('/a/').catch((e: unknown) => e)) as ApiError
    const e2 = (await client.get('/b/').catch((e: unknown) => e)) as ApiError
    const e3 = (await client.get('/c/').catch((e: unknown) => e)) as ApiError

    expect(e1).toBeInstanceOf(ApiError)
    expect([e1.status, e1.code, e1.detail, e1.fields]).toEqual([502, 'http_error', 'Bad Gateway', {}])
    expect([e2.status, e2.code, e2.detail]).toEqual([504, 'http_error', 'upstream timed out'])
    expect([e3.status, e3.code, e3.detail]).toEqual([500, 'http_error', 'HTTP 500'])
  })

  it("falls back to DRF's default {detail} error shape", async () => {
    const { fetch } = mockFetch(json({ detail: 'Authentication credentials were not provided.' }, 403))
    const error = (await new ApiClient({ baseUrl: '', fetch }).get('/api/x/').catch((e: unknown) => e)) as ApiError
    expect([error.status, error.code, error.detail]).toEqual([
      403,
      'http_error',
      'Authentication credentials were not provided.',
    ])
  })

  it('rejects a successful response that is not JSON', async () => {
    const { fetch } = mockFetch(new Response('<html>login</html>', { status: 200 }))
    const error = (await new ApiClient({ baseUrl: '', fetch }).get('/api/x/').catch((e: unknown) => e)) as ApiError
    expect(error).toBeInstanceOf(ApiError)
    expect(error.code).toBe('invalid_response')
  })

  it('wraps network failures but lets aborts through', async () => {
    const abort = new DOMException('aborted', 'AbortError')
    const fetch = vi
      .fn<typeof globalThis.fetch>()
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
      .mockRejectedValueOnce(abort)
    const client = new ApiClient({ baseUrl: '', fetch })

    const network = (await client.get('/a/').catch((e: unknown) => e)) as ApiError
    expect(network).toBeInstanceOf(ApiError)
    expect([network.status, network.code, network.detail]).toEqual([0, 'network_error', 'Failed to fetch'])
    await expect(client.get('/b/')).rejects.toBe(abort)
  })

  it('passes an AbortSignal through', async () => {
    const { fetch, calls } = mockFetch(json({}))
    const controller = new AbortController()
    await new ApiClient({ baseUrl: '', fetch }).get('/a/', undefined, { signal: controller.signal })
    expect(calls[0]?.init.signal).toBe(controller.signal)
  })

  it('paginates by following next until it is null', async () => {
    const { fetch, calls } = mockFetch(
      json({
        next: 'http://testserver/api/items/?cursor=abc&project=3',
        previous: null,
        results: [{ id: 1 }, { id: 2 }],
      }),
      json({ next: '/api/items/?cursor=def&project=3', previous: 'x', results: [{ id: 3 }] }),
      json({ next: null, previous: 'y', results: [] }),
    )
    const client = new ApiClient({ baseUrl: '', fetch })

    const ids: number[] = []
    for await (const item of client.paginate<{ id: number }>('/api/items/', { project: 3 })) {
      ids.push(item.id)
    }

    expect(ids).toEqual([1, 2, 3])
    expect(calls.map((c) => c.url)).toEqual([
      '/api/items/?project=3',
      'http://testserver/api/items/?cursor=abc&project=3',
      '/api/items/?cursor=def&project=3',
    ])
    expect(calls.every((c) => c.init.method === 'GET')).toBe(true)
  })

  it('stops paginating when the consumer breaks early', async () => {
    const { fetch, calls } = mockFetch(
      json({ next: '/api/items/?cursor=abc', previous: null, results: [{ id: 1 }, { id: 2 }] }),
    )
    const client = new ApiClient({ baseUrl: '', fetch })
    for await (const item of client.paginate<{ id: number }>('/api/items/')) {
      if (item.id === 1) break
    }
    expect(calls).toHaveLength(1)
  })

  it('refuses a pagination loop', async () => {
    const { fetch } = mockFetch(json({ next: '/api/items/', previous: null, results: [{ id: 1 }] }))
    const client = new ApiClient({ baseUrl: '', fetch })
    const consume = async () => {
      const items: unknown[] = []
      for await (const item of client.paginate('/api/items/')) items.push(item)
    }
    await expect(consume()).rejects.toMatchObject({ code: 'invalid_response' })
  })

  it('builds URLs with repeated keys for array query values', () => {
    const client = new ApiClient({ baseUrl: 'https://h/', fetch: vi.fn() })
    expect(client.url('api/items/', { id: [1, 2], flag: true })).toBe('https://h/api/items/?id=1&id=2&flag=true')
    expect(client.url('/api/items/?a=1', { b: 'x y' })).toBe('https://h/api/items/?a=1&b=x+y')
    expect(client.url('https://other/p/')).toBe('https://other/p/')
  })
})
