/**
 * Typed client for the Earmark REST API (Django REST Framework backend).
 *
 * All requests are same-origin by default, send the session cookie and, for
 * unsafe methods, Django's CSRF token in the `X-CSRFToken` header.
 */

/** Processing state of an uploaded audio item */
export type AudioItemState = 'pending' | 'ready' | 'failed'

/** An uploaded audio file, as returned by `/api/items/{id}/` */
export type AudioItem = {
  /** Primary key */
  id: number
  /** Primary key of the owning project */
  project: number
  /** File name as uploaded by the user */
  original_name: string
  /** Processing state; metadata fields are null until "ready" */
  state: AudioItemState
  /** Human-readable processing error when state is "failed" */
  error: string | null
  /** Duration in seconds */
  duration_s: number | null
  /** Sample rate in Hz */
  sample_rate_hz: number | null
  /** Number of audio channels */
  channels: number | null
  /** Container/codec name, e.g. "wav", "mp3", "flac" */
  format: string | null
  /** Size of the stored file in bytes */
  size_bytes: number | null
  /** Hex SHA-256 of the stored file */
  sha256: string | null
  /** ISO 8601 creation timestamp */
  created_at: string
}

/** Pre-computed waveform peaks, as returned by `/api/items/{id}/peaks/` */
export type Peaks = {
  /** Duration of the whole item in seconds */
  duration_s: number
  /** Sample rate of the source audio in Hz */
  sample_rate_hz: number
  /** Number of source samples summarised by one bin */
  samples_per_bin: number
  /** Number of channels in `data` */
  channels: number
  /** Start of the covered window in seconds */
  start_s: number
  /** End of the covered window in seconds */
  end_s: number
  /** One array of peak values in [-1, 1] per channel */
  data: number[][]
}

/** A page of a cursor-paginated list endpoint */
export type Page<T> = {
  /** Absolute or relative URL of the next page, null on the last page */
  next: string | null
  /** Absolute or relative URL of the previous page, null on the first page */
  previous: string | null
  /** The items of this page */
  results: T[]
}

/** Scalar values accepted in a query string */
export type QueryValue = string | number | boolean

/** Query string parameters; null/undefined values are skipped, arrays repeat the key */
export type Query = Record<string, QueryValue | readonly QueryValue[] | null | undefined>

/** Per-request options */
export type RequestOptions = {
  /** Aborts the request when signalled */
  signal?: AbortSignal
}

export type ApiClientOptions = {
  /** Prefix for every request path, e.g. "https://earmark.example"; "" for same-origin */
  baseUrl: string
  /** Django CSRF token, sent as `X-CSRFToken` on POST/PUT/PATCH/DELETE */
  csrfToken?: string
  /** The fetch implementation to use, defaults to the global `fetch` */
  fetch?: typeof fetch
}

/** Shape of the backend's error responses */
export type ApiErrorBody = {
  error: {
    /** Machine-readable error code, e.g. "validation_error", "not_found" */
    code: string
    /** Human-readable summary */
    message: string
    /** Per-field messages keyed by dotted path, e.g. "segments.0.start_s" */
    fields?: Record<string, string[]>
  }
}

export type ApiErrorInit = {
  /** HTTP status code; 0 when no response was received */
  status: number
  /** Machine-readable error code */
  code: string
  /** Human-readable message */
  detail: string
  /** Per-field messages keyed by dotted path */
  fields?: Record<string, string[]>
}

/** A failed API request: a non-2xx response, an unreadable body, or a network failure */
export class ApiError extends Error {
  /** HTTP status code; 0 when no response was received (network failure) */
  readonly status: number
  /** Machine-readable error code from the backend, or "http_error" / "invalid_response" / "network_error" */
  readonly code: string
  /** Human-readable message */
  readonly detail: string
  /** Per-field validation messages keyed by dotted path, e.g. "segments.0.start_s"; empty when none */
  readonly fields: Record<string, string[]>

  constructor({ status, code, detail, fields = {} }: ApiErrorInit, options?: ErrorOptions) {
    super(detail, options)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.detail = detail
    this.fields = fields
  }

  /** Builds an ApiError from an error response's status and raw body text */
  static fromBody(status: number, statusText: string, bodyText: string): ApiError {
    const fallback = statusText || `HTTP ${status}`
    let body: unknown
    try {
      body = JSON.parse(bodyText)
    } catch {
      const text = bodyText.trim()
      // Avoid surfacing whole HTML error pages as the message.
      const detail = text && text.length <= 200 && !text.startsWith('<') ? text : fallback
      return new ApiError({ status, code: 'http_error', detail })
    }

    if (isRecord(body) && isRecord(body.error)) {
      const { code, message, fields } = body.error
      return new ApiError({
        status,
        code: typeof code === 'string' && code ? code : 'http_error',
        detail: typeof message === 'string' && message ? message : fallback,
        fields: parseFields(fields),
      })
    }
    // DRF's default shape, in case a view bypasses the custom exception handler.
    if (isRecord(body) && typeof body.detail === 'string') {
      const code = typeof body.code === 'string' ? body.code : 'http_error'
      return new ApiError({ status, code, detail: body.detail })
    }
    return new ApiError({ status, code: 'http_error', detail: fallback })
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** A typed JSON client for the Earmark REST API */
export class ApiClient {
  private readonly baseUrl: string
  private readonly csrfToken: string | undefined
  private readonly fetchImpl: typeof fetch

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.csrfToken = options.csrfToken
    // Bind so that `window.fetch` is not called with the client as `this`.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** Resolves an API path (or an absolute URL, e.g. a pagination link) plus query into a request URL */
  url(path: string, query?: Query): string {
    const base = /^https?:\/\//i.test(path) ? path : `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`
    const search = encodeQuery(query)
    if (!search) return base
    return `${base}${base.includes('?') ? '&' : '?'}${search}`
  }

  /** GET a JSON resource */
  get<T>(path: string, query?: Query, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', this.url(path, query), undefined, options)
  }

  /** POST a JSON body; resolves with the parsed JSON response */
  post<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', this.url(path), body, options)
  }

  /** PATCH a JSON body; resolves with the parsed JSON response */
  patch<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', this.url(path), body, options)
  }

  /** DELETE a resource */
  async delete(path: string, options?: RequestOptions): Promise<void> {
    await this.request<unknown>('DELETE', this.url(path), undefined, options)
  }

  /** Iterates over every item of a cursor-paginated list, following `next` until it is null */
  async *paginate<T>(path: string, query?: Query, options?: RequestOptions): AsyncGenerator<T, void, undefined> {
    let url: string | null = this.url(path, query)
    const seen = new Set<string>()
    while (url !== null) {
      // Guard against a misbehaving server that links a page to itself.
      if (seen.has(url))
        throw new ApiError({ status: 0, code: 'invalid_response', detail: `Pagination loop at ${url}` })
      seen.add(url)
      const page: Page<T> = await this.request<Page<T>>('GET', url, undefined, options)
      yield* page.results
      url = page.next === null ? null : this.url(page.next)
    }
  }

  private async request<T>(method: string, url: string, body: unknown, options?: RequestOptions): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const init: RequestInit = { method, headers, credentials: 'same-origin' }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    if (!SAFE_METHODS.has(method) && this.csrfToken) {
      headers['X-CSRFToken'] = this.csrfToken
    }
    if (options?.signal) {
      init.signal = options.signal
    }

    let response: Response
    try {
      response = await this.fetchImpl(url, init)
    } catch (err) {
      // Let aborts propagate untouched so callers can tell them apart.
      if (isAbortError(err)) throw err
      const detail = err instanceof Error ? err.message : String(err)
      throw new ApiError({ status: 0, code: 'network_error', detail }, { cause: err })
    }

    const text = await response.text()
    if (!response.ok) {
      throw ApiError.fromBody(response.status, response.statusText, text)
    }
    if (response.status === 204 || text === '') {
      return undefined as T
    }
    try {
      return JSON.parse(text) as T
    } catch (err) {
      throw new ApiError(
        { status: response.status, code: 'invalid_response', detail: `Expected JSON from ${method} ${url}` },
        { cause: err },
      )
    }
  }
}

/**
 * Reads Django's CSRF token from the `csrftoken` cookie, falling back to a
 * `{% csrf_token %}` hidden input (needed when CSRF_COOKIE_HTTPONLY is on).
 */
export function readCsrfToken(doc: Document, cookieName = 'csrftoken'): string | undefined {
  for (const part of doc.cookie.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() !== cookieName) continue
    const raw = part.slice(eq + 1).trim()
    if (!raw) continue
    try {
      return decodeURIComponent(raw)
    } catch {
      return raw
    }
  }
  const input = doc.querySelector<HTMLInputElement>('input[name="csrfmiddlewaretoken"]')
  return input?.value ? input.value : undefined
}

function encodeQuery(query: Query | undefined): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined) continue
    const values: readonly QueryValue[] = Array.isArray(value) ? value : [value as QueryValue]
    for (const v of values) params.append(key, String(v))
  }
  return params.toString()
}

function parseFields(value: unknown): Record<string, string[]> {
  const fields: Record<string, string[]> = {}
  if (!isRecord(value)) return fields
  for (const [key, messages] of Object.entries(value)) {
    if (Array.isArray(messages)) {
      fields[key] = messages.map(messageText)
    } else if (messages !== null && messages !== undefined) {
      fields[key] = [messageText(messages)]
    }
  }
  return fields
}

function messageText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** True for the rejection of an aborted fetch/play (a DOMException named "AbortError", from any realm) */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'name' in err && err.name === 'AbortError'
}
