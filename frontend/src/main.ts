import './styles.css'
import './annotator/annotator.css'

import { ApiClient, readCsrfToken } from './api/client'
import { mountAnnotator } from './annotator/mount'
import { mountPlayers } from './player/mount'

function start() {
  const csrfToken = readCsrfToken(document)
  const client = new ApiClient({ baseUrl: '', ...(csrfToken ? { csrfToken } : {}) })
  mountPlayers(document, client)
  mountAnnotator(document, client)
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start, { once: true })
} else {
  start()
}
