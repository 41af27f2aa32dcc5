// The service worker: the app opens with no network. The app's files are
// cached when it is installed (one cache per build, the old ones dropped on
// activation) and served from the cache; the node's schemas are fetched
// from the node when it answers and from the cache when it does not (the
// browser validates with them offline). The records themselves live in
// IndexedDB (automerge-repo's storage), not here; the API and the
// WebSocket always go to the network.

declare const __BUILD__: string
declare const __FILES__: string[]

const sw = self as unknown as ServiceWorkerGlobalScope
const CACHE = `ayni-app-${__BUILD__}`
const SCHEMAS = "ayni-schemas"
/** The schemas the app's forms check with, kept from the start so a first save offline is checked too. */
const FORM_SCHEMAS = ["edan", "event", "mission", "common"].map((k) => `/api/v1/schemas/${k}`)

sw.addEventListener("install", (event: ExtendableEvent) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(["./", ...__FILES__]))
      // not fatal: they are fetched again, and kept, whenever the node answers
      .then(() => caches.open(SCHEMAS).then((c) => c.addAll(FORM_SCHEMAS)).catch(() => {}))
      .then(() => sw.skipWaiting()),
  )
})

sw.addEventListener("activate", (event: ExtendableEvent) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("ayni-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  )
})

sw.addEventListener("fetch", (event: FetchEvent) => {
  const url = new URL(event.request.url)
  if (event.request.method !== "GET" || url.origin !== location.origin) return
  const scope = new URL(sw.registration.scope)
  if (url.pathname.startsWith("/api/v1/schemas/")) {
    event.respondWith(
      fetch(event.request)
        .then(async (r) => {
          if (r.ok) await (await caches.open(SCHEMAS)).put(event.request, r.clone())
          return r
        })
        .catch(async () => (await caches.match(event.request)) ?? Response.error()),
    )
  } else if (url.pathname.startsWith(scope.pathname)) {
    // the app's own files; any other address under it is the app (hash routes)
    const known = event.request.mode === "navigate" ? new URL("./", scope).href : event.request.url
    event.respondWith(
      caches.open(CACHE).then(async (c) => (await c.match(known, { ignoreSearch: true })) ?? fetch(event.request)),
    )
  }
})
