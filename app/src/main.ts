// The field app's entry: loads automerge's WebAssembly, registers the
// service worker (the app opens with no network), signs in (token from the
// QR code's address or typed), opens the device's copy of the records, and
// draws the screen the address names (#/e emergencies, #/edan/KEY[/ZONE],
// #/m missions, #/m/KEY, #/c catalogue, #/c/KEY, #/s status).

import { initializeWasm } from "@automerge/automerge-repo/slim"
import { h, replace, type Child } from "./dom"
import { listed, type App } from "./app"
import { setLanguage, language, t } from "./i18n"
import { forget, recheck, saved, signIn, SignInError, signOut, tokenFromAddress, type Session } from "./session"
import { Sync, unsent } from "./sync"
import * as emergencies from "./views/emergencies"
import * as missions from "./views/missions"
import * as catalogue from "./views/catalogue"
import * as create from "./views/create"
import * as hq from "./views/hq"
import { createRecord, madeHereUrls } from "./created"
import { pendingCount, startUploads } from "./photos"
import { refreshPhotoStates } from "./views/photos"
import { KEPT, status } from "./views/status"

const root = document.getElementById("app") as HTMLElement
const live = document.getElementById("live") as HTMLElement

function say(message: string) {
  live.textContent = ""
  setTimeout(() => (live.textContent = message), 50)
}

function signInScreen(error?: string) {
  const input = h("input", { id: "token", name: "token", autocomplete: "off", spellcheck: "false", required: true })
  const form = h("form", { class: "signin" },
    h("h1", {}, t("signin_title")),
    h("p", {}, t("signin_help")),
    h("label", { for: "token" }, t("signin_token")), input,
    h("p", { class: "alert", role: "alert" }, error ?? ""),
    h("button", { type: "submit", class: "primary" }, t("signin_button")))
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    try {
      start(await signIn(input.value.trim()))
    } catch (err) {
      signInScreen(err instanceof SignInError && err.reason === "bad_token" ? t("signin_bad") : t("signin_offline"))
    }
  })
  replace(root, form)
  input.focus()
}

const TABS: [string, string][] = [
  ["#/e", "nav_emergencies"],
  ["#/m", "nav_missions"],
  ["#/c", "nav_catalogue"],
  ["#/s", "nav_status"],
]

async function start(session: Session) {
  const main = h("main", { id: "main", tabindex: -1 })
  const badge = h("a", { id: "sync", href: "#/s", class: "badge" })
  // HQ: how many decisions wait, in the header
  // named before its count arrives (and if it never does, offline)
  const waiting = session.role === "hq" ? h("a", { id: "waiting", href: "#/hq", class: "badge", "aria-label": t("hq_decisions") }, "HQ") : null
  const nav = h("nav", { "aria-label": "Ayni" })
  replace(root, h("header", {}, h("span", { class: "brand" }, "Ayni"), h("span", {}, waiting, " ", badge)), main, nav)
  const sync = new Sync(session)
  const shown = new Set<string>()
  const app: App = { session, sync, index: null, main, say, redraw: () => draw(), shows: (h) => shown.add(h.documentId), uploads: { now: () => {} } }

  let drawing = 0
  async function draw() {
    const n = ++drawing
    shown.clear()
    const route = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent)
    const tabs: [string, string][] = session.role === "hq" ? [...TABS.slice(0, 3), ["#/hq", "nav_hq"], TABS[3]] : TABS
    replace(nav, tabs.map(([href, key]) => h("a", { href, "aria-current": `#/${route[0] || "e"}` === href || (href === "#/e" && route[0] === "edan") ? "page" : null }, t(key))))
    let screen: Child
    if (!app.index) screen = h("p", { role: "alert" }, t("not_on_device"))
    else if (route[0] === "hq" && session.role === "hq") screen = await (route[1] === "audit" ? hq.audit(app) : route[1] === "devices" ? hq.devices(app) : route[1] === "live" ? hq.live(app) : hq.decisions(app))
    else if (route[0] === "new" && route[1] === "edan") screen = await create.newEdan(app, route[2])
    else if (route[0] === "new" && route[1] === "event") screen = await create.newEvent(app)
    else if (route[0] === "edan" && route[2]) screen = await emergencies.zone(app, route[1], route[2])
    else if (route[0] === "edan") screen = await emergencies.edan(app, route[1])
    else if (route[0] === "m" && route[1]) screen = await missions.mission(app, route[1])
    else if (route[0] === "m") screen = missions.list(app)
    else if (route[0] === "c" && route[1]) screen = await catalogue.practice(app, route[1])
    else if (route[0] === "c") screen = await catalogue.list(app)
    else if (route[0] === "s") screen = await status(app)
    else screen = emergencies.home(app)
    if (n !== drawing) return
    replace(main, screen)
    drawBadge()
    drawWaiting()
  }
  async function drawWaiting() {
    if (!waiting) return
    try {
      const n = (await hq.call(app, "GET", "/api/v1/decisions")).count
      waiting.textContent = `HQ ${n}`
      waiting.setAttribute("aria-label", `HQ ${n}: ${t("hq_waiting", { n })}`)
    } catch {
      // offline with nothing kept: the header shows no count
    }
  }
  async function drawBadge() {
    const waiting = [...(await sync.pending()).values()].reduce((a, b) => a + b, 0)
    const refused = sync.refusals().length
    const photos = await pendingCount().catch(() => 0)
    badge.textContent = `${sync.online ? "●" : "○"} ${waiting ? `${waiting} ↑` : "✓"}${photos ? ` · ${photos} ${t("photos_short")}` : ""}${refused ? ` ⚠ ${refused}` : ""}`
    badge.className = `badge ${sync.online ? "ok" : "warn"}`
    badge.setAttribute("aria-label", `${sync.online ? t("online") : t("offline")}. ${waiting ? `${t("pending")}: ${waiting}` : t("no_pending")}${photos ? `. ${t("photos_pending")}: ${photos}` : ""}${refused ? `. ${t("refused")}: ${refused}` : ""}`)
  }
  window.addEventListener("hashchange", () => {
    draw().then(() => main.focus())
  })
  sync.addEventListener("change", () => {
    drawBadge()
    if (location.hash.startsWith("#/s")) draw()
  })

  replace(main, h("p", {}, t("loading")))
  // on a first sign-in the node may answer after the first look: look again then
  sync.repo.networkSubsystem.on("peer", async () => {
    if (app.index) return
    app.index = await sync.find(session.index_url)
    if (app.index) {
      followIndex()
      draw()
    }
  })
  app.index = await sync.find(session.index_url)
  // lists follow the node; a form being filled in is left alone
  let pendingDraw: ReturnType<typeof setTimeout> | undefined
  const redrawSoon = () => {
    clearTimeout(pendingDraw)
    pendingDraw = setTimeout(() => {
      if (!document.querySelector("main form")) draw()
    }, 300)
  }
  const followIndex = () => app.index?.on("change", redrawSoon)
  followIndex()
  sync.addEventListener("doc", (e) => {
    if (shown.has((e as CustomEvent<string>).detail)) redrawSoon()
  })
  await draw()

  // records made here that the node has not listed yet: loaded, so they
  // sync the moment the node is reachable; photos waiting: sent
  for (const url of madeHereUrls()) sync.find(url)
  // for scripted checks from the browser's console (support staff, tests):
  // a record made as this client, judged by the node like any other
  Object.assign(window, { ayni: { create: (kind: string, data: Record<string, unknown>, title: string) => createRecord(app, kind, data, { title }).url } })
  app.uploads = startUploads(app, () => {
    drawBadge()
    refreshPhotoStates()
  })

  // every record the screens show is kept on the device, for offline use
  const keep = () => {
    const urls = KEPT.flatMap((kind) => listed(app, kind).map(([, r]) => r.url))
    sync.keepOnDevice(urls)
  }
  sync.repo.networkSubsystem.on("peer", keep)
  if (sync.online) keep()

  // a token revoked since: sign out; no network: carry on with what the device holds
  const checked = await recheck(session)
  if (typeof checked === "object") Object.assign(session, { author: checked.author, may_create: checked.may_create })
  if (checked === "revoked") {
    // start again from a clean page: no repo left retrying with the old token
    forget()
    sessionStorage.setItem("ayni.signin", "bad_token")
    location.reload()
  }
}

async function boot() {
  setLanguage(language())
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {})
  await initializeWasm(new URL("automerge.wasm", document.baseURI).href)
  const token = tokenFromAddress()
  const session = saved()
  if (token && token !== session?.token) {
    // another client on this device: its unsent changes would go up as the
    // new one's, so they are either kept (the new sign-in refused) or dropped
    if (session && unsent() && !confirm(t("signout_pending"))) return start(session)
    if (session) await signOut()
    try {
      return start(await signIn(token))
    } catch (err) {
      return signInScreen(err instanceof SignInError && err.reason === "bad_token" ? t("signin_bad") : t("signin_offline"))
    }
  }
  if (session) start(session)
  else {
    const why = sessionStorage.getItem("ayni.signin")
    sessionStorage.removeItem("ayni.signin")
    signInScreen(why === "bad_token" ? t("signin_bad") : undefined)
  }
}

boot()
