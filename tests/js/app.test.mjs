// The field app in a real browser: Debian's Chromium driven by
// playwright-core (which downloads nothing), at phone width, against a
// running node. Started by tests/field_app.rs, which passes the node's
// address and client tokens in environment variables; run alone it skips.
// With AYNI_SCREENSHOTS=DIR it also saves the main screens there
// (scripts/screenshots).
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { launch } from "./chromium.mjs"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/field_app.rs (needs a serving node)"
const base = `http://${env.AYNI_HTTP}/app/`
const EDAN = "edan-sama-1"

let browser
before(async () => {
  if (skip) return
  browser = await launch()
})
after(async () => browser?.close())

/** A phone: 360 px wide, touch, Spanish, with a GPS fix. */
async function phone() {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    hasTouch: true,
    locale: "es-BO",
    geolocation: { latitude: -21.4712, longitude: -64.8345, accuracy: 12 },
    permissions: ["geolocation"],
  })
  const page = await context.newPage()
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`))
  return { context, page }
}

/** Saves the screen (scrolled to `at`, else to the top) when screenshots are asked for. */
async function shot(page, name, at) {
  if (!env.AYNI_SCREENSHOTS) return
  if (at) await at.evaluate((e) => e.scrollIntoView({ block: "center" }))
  else await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: `${env.AYNI_SCREENSHOTS}/${name}.png` })
}

async function signIn(page, token) {
  await page.goto(base)
  await page.getByLabel("Clave de acceso").fill(token)
  await page.getByRole("button", { name: "Ingresar" }).click()
  await page.getByRole("heading", { name: "Emergencias" }).waitFor()
  // the service worker has the app: it will open with no network
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 })
}

async function api(path, token = env.AYNI_HQ_TOKEN) {
  const r = await fetch(`http://${env.AYNI_HTTP}${path}`, { headers: { authorization: `Bearer ${token}` } })
  return r.json()
}
const tally = async (zone, team) => (await api(`/api/v1/records/edan/${EDAN}`)).fields.tallies?.[zone]?.[team]

async function eventually(check, what, ms = 20000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

async function openZone(page, zone) {
  await page.goto(`${base}#/edan/${EDAN}`)
  const card = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: new RegExp(`^Zona ${zone}\\b`) }) })
  await card.getByRole("link", { name: /conteo de mi equipo/ }).click()
  await page.getByRole("heading", { name: /Su equipo: GAEM-2/ }).waitFor()
}

const phones = {}

test("a responder signs in with a token and records a zone's tally and position; the node has them, attributed", { skip }, async () => {
  const { context, page } = await phone()
  phones.a = { context, page }
  await signIn(page, env.AYNI_TABLET_TOKEN)
  await shot(page, "1-emergencias")
  await page.getByRole("link", { name: /EDAN consolidada/ }).click()
  await page.getByRole("heading", { name: /Zona z2/ }).waitFor()
  await page.getByText(/Espera decisión de HQ/).first().waitFor()
  await shot(page, "2-edan")

  await openZone(page, "z1")
  await page.getByLabel("Familias afectadas").fill("12")
  await page.getByLabel("Fallecidos").fill("0")
  await page.getByLabel("Heridos").fill("3")
  await page.locator("#f-livestock_dead\\.ovino").fill("4")
  await page.getByLabel("Método").selectOption("door_to_door")
  await shot(page, "3-conteo")
  await page.getByRole("button", { name: "Guardar" }).click()
  await eventually(async () => (await tally("z1", "GAEM-2"))?.families_affected === 12, "the tally on the node")
  const t = await tally("z1", "GAEM-2")
  assert.equal(t.dead, 0)
  assert.equal(t.injured, 3)
  assert.equal(t.method, "door_to_door")
  assert.deepEqual(t.livestock_dead, { ovino: 4 })

  await page.getByRole("button", { name: /ubicación de este equipo/ }).click()
  await eventually(async () => (await api(`/api/v1/records/edan/${EDAN}`)).fields.zones.z1.geo?.captured_by === "gps", "the zone's position on the node")
  const geo = (await api(`/api/v1/records/edan/${EDAN}`)).fields.zones.z1.geo
  assert.deepEqual([geo.lat, geo.lon, geo.accuracy_m], [-21.4712, -64.8345, 12])

  // a basic service's state for the zone
  await page.getByLabel("Servicio", { exact: true }).selectOption("agua_potable")
  await page.getByLabel("Estado", { exact: true }).selectOption("sin_servicio")
  await page.getByRole("button", { name: "Añadir estado de un servicio" }).click()
  await eventually(async () => Object.values((await api(`/api/v1/records/edan/${EDAN}`)).fields.services ?? {})
    .some((v) => v.zone === "z1" && v.service === "agua_potable" && v.status === "sin_servicio"), "the service on the node")
})

test("the situation and cooperation reports open from the app, rendered by the node for the session's client", { skip }, async () => {
  const { context, page } = phones.a
  await page.goto(`${base}#/e`)
  const [report] = await Promise.all([
    context.waitForEvent("page"),
    page.getByRole("button", { name: /Informe de situación: Incendio forestal/ }).click(),
  ])
  await report.getByRole("heading", { name: "Informe de situación" }).waitFor()
  // every total on the page is the one the node's JSON report has
  const shown = await report.locator("td[data-total]").evaluateAll((cells) =>
    cells.map((c) => [c.dataset.edan, c.dataset.total, Number(c.dataset.value)]))
  const json = await api("/api/v1/reports/event/ev-sama", env.AYNI_TABLET_TOKEN)
  const want = json.edans.flatMap((e) => Object.entries(e.report.totals).map(([f, v]) => [e.key, f, v]))
  assert.deepEqual(shown.sort(), want.sort())
  await report.close()
  await page.goto(`${base}#/m`)
  const [coop] = await Promise.all([
    context.waitForEvent("page"),
    page.getByRole("button", { name: "Informe de cooperación" }).click(),
  ])
  await coop.getByRole("heading", { name: /Informe de cooperación/ }).waitFor()
  await coop.close()
})

test("every screen passes axe's accessibility rules, is reached by keyboard, and speaks English when asked", { skip }, async () => {
  const { page } = phones.a
  const axe = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8")
  for (const route of ["#/e", `#/edan/${EDAN}`, `#/edan/${EDAN}/z1`, "#/new/edan", "#/new/event", "#/m", "#/m/ac-lum-tarija", "#/c", "#/c/BP-LUM", "#/s"]) {
    await page.goto(base + route)
    await page.locator("main h1").waitFor()
    // evaluated, not inserted as a <script>: the app's content security policy forbids inline scripts
    await page.evaluate(axe)
    const found = await page.evaluate(async () => (await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] })).violations)
    const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical")
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `on ${route}`)
  }

  // by keyboard alone: from the list to the missions tab, and into a mission
  await page.goto(`${base}#/e`)
  await page.locator("main h1").waitFor()
  let reached = false
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab")
    reached = await page.evaluate(() => document.activeElement?.textContent === "Misiones")
  }
  assert.ok(reached, "the Misiones tab takes the focus")
  await page.keyboard.press("Enter")
  await page.getByRole("heading", { name: "Misiones", level: 1 }).waitFor()

  await page.getByRole("link", { name: "Estado" }).click()
  await page.getByLabel("Idioma").selectOption("en")
  await page.getByRole("link", { name: "Emergencies" }).waitFor()
  await page.getByRole("heading", { name: "Status" }).waitFor()
  await page.getByLabel("Language").selectOption("es")
  await page.getByRole("link", { name: "Emergencias" }).waitFor()
})

test("with no network a reload opens the app and its records; edits made offline reach the node when it is back", { skip }, async () => {
  const { context, page } = phones.a
  await openZone(page, "z1")
  await context.setOffline(true)
  await page.reload()
  // the screen it was on (the zone), then the list, from the device alone
  await page.getByRole("heading", { name: /Su equipo: GAEM-2/ }).waitFor()
  await page.getByRole("link", { name: "Emergencias" }).click()
  await page.getByRole("link", { name: /EDAN consolidada/ }).waitFor()
  await openZone(page, "z1")
  assert.equal(await page.getByLabel("Familias afectadas").inputValue(), "12")
  await page.getByLabel("Familias afectadas").fill("14")
  await page.getByRole("button", { name: "Guardar" }).click()
  await page.getByRole("link", { name: "Estado" }).click()
  await page.getByText("Cambios pendientes de enviar: 1").waitFor()
  await page.getByText(/Sin conexión/).waitFor()
  await shot(page, "5-sin-conexion")
  await new Promise((r) => setTimeout(r, 1000))
  assert.equal((await tally("z1", "GAEM-2")).families_affected, 12, "nothing left the device while offline")

  await context.setOffline(false)
  await eventually(async () => (await tally("z1", "GAEM-2")).families_affected === 14, "the offline edit on the node", 30000)
  await page.getByText("Todo enviado al nodo").waitFor({ timeout: 20000 })
})

test("a negative count shows the schema's rule, in Spanish, naming the field; nothing is saved", { skip }, async () => {
  const { page } = phones.a
  await openZone(page, "z1")
  await page.getByLabel("Fallecidos").fill("-1")
  await page.getByRole("button", { name: "Guardar" }).click()
  await page.getByRole("alert").filter({ hasText: "«Fallecidos» no puede ser menor que 0" }).waitFor()
  assert.equal(await page.getByLabel("Fallecidos").getAttribute("aria-invalid"), "true")
  await shot(page, "4-validacion", page.getByLabel("Fallecidos"))
  await new Promise((r) => setTimeout(r, 500))
  assert.equal((await tally("z1", "GAEM-2")).dead, 0)
  // nor on the device
  await openZone(page, "z1")
  assert.equal(await page.getByLabel("Fallecidos").inputValue(), "0")
  await page.getByRole("link", { name: "Estado" }).click()
  await page.getByText("Todo enviado al nodo").waitFor()
})

test("a mission's log and follow-up are written from the phone; the catalogue is searched with no network", { skip }, async () => {
  const { context, page } = phones.a
  await page.getByRole("link", { name: "Misiones" }).click()
  await page.getByRole("link", { name: /luminotecnia — Tarija/ }).click()
  const text = "Visita de seguimiento: dos técnicos capacitados aplican el protocolo"
  await page.getByLabel("Texto").fill(text)
  await page.getByRole("button", { name: "Añadir a la bitácora" }).click()
  const mission = async () => (await api("/api/v1/records/mission/ac-lum-tarija")).fields
  await eventually(async () => Object.values((await mission()).log ?? {}).some((l) => l.text === text && l.author === "tablet-1"), "the log entry on the node")

  await page.getByLabel("Tipo").selectOption("transfer_to_job")
  await page.getByLabel("Estado", { exact: true }).selectOption("done")
  await page.getByLabel("Hallazgos").fill("Dos de tres técnicos capacitados aplican lo aprendido en su puesto")
  await page.getByRole("button", { name: "Añadir seguimiento" }).click()
  await eventually(async () => Object.values((await mission()).follow_ups ?? {}).some((f) => f.kind === "transfer_to_job" && f.status === "done"), "the follow-up on the node")
  await page.getByText(/Transferencia al puesto de trabajo — Realizado/).waitFor()

  // every record the app keeps came onto the device after sign-in (the
  // status screen says so); with the network off the catalogue is searched there
  await eventually(async () => {
    await page.goto(`${base}#/s`)
    const held = await page.locator("#held").textContent()
    const [, n, total] = /(\d+) de (\d+)/.exec(held) ?? []
    return Number(total) > 10 && n === total
  }, "every kept record on the device")
  await page.getByRole("link", { name: "Catálogo" }).click()
  await context.setOffline(true)
  await page.reload()
  await page.getByLabel("Buscar").waitFor()
  await page.getByLabel("Buscar").fill("semaforizacion")
  const found = page.locator("#practices li")
  await page.waitForFunction(() => document.querySelectorAll("#practices li").length === 1)
  assert.match(await found.first().textContent(), /Luminotecnia/)
  await shot(page, "7-catalogo")
  await context.setOffline(false)
})

test("two phones of one team enter the first tally of a new zone offline: both values are kept and shown as a conflict", { skip }, async () => {
  const a = phones.a
  // a zone the team identified, added from the phone
  await a.page.goto(`${base}#/edan/${EDAN}`)
  await a.page.getByLabel(/Código de la zona/).fill("z3")
  await a.page.getByLabel("Nombre").fill("Zona 3 (Prov. Cercado)")
  await a.page.getByRole("button", { name: "Añadir zona afectada" }).click()
  await a.page.getByRole("heading", { name: /Zona z3/ }).waitFor()
  await eventually(async () => (await api(`/api/v1/records/edan/${EDAN}`)).fields.zones.z3?.name === "Zona 3 (Prov. Cercado)", "the new zone on the node")

  const b = await phone()
  // this one signs in by opening the QR code's link; the token leaves the address at once
  await b.page.goto(env.AYNI_TABLET2_LINK)
  await b.page.getByRole("heading", { name: "Emergencias" }).waitFor()
  assert.ok(!b.page.url().includes("token"), b.page.url())
  await b.page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 })
  for (const [p, value] of [[a, "30"], [b, "31"]]) {
    await openZone(p.page, "z3")
    await p.context.setOffline(true)
    await p.page.reload()
    await p.page.getByLabel("Familias afectadas").fill(value)
    await p.page.getByRole("button", { name: "Guardar" }).click()
    await p.page.locator("#live").filter({ hasText: "Guardado" }).waitFor()
  }
  await new Promise((r) => setTimeout(r, 500))
  assert.equal(await tally("z3", "GAEM-2"), undefined, "neither left its phone")
  await a.context.setOffline(false)
  await b.context.setOffline(false)
  await eventually(async () => {
    const all = await api("/api/v1/conflicts")
    return JSON.stringify(all).includes("tallies.z3.GAEM-2.families_affected")
  }, "the conflict on the node", 30000)

  // each phone shows both values once it has the other's (two first
  // tallies made apart are two maps under one key: read merged, as the node does)
  for (const p of [a, b]) {
    await eventually(async () => {
      await openZone(p.page, "z3")
      return (await p.page.getByRole("note").filter({ hasText: "Valores simultáneos" }).count()) > 0
    }, "the conflict on the phone", 30000)
    const note = await p.page.getByRole("note").filter({ hasText: "Valores simultáneos" }).textContent()
    assert.match(note, /30/)
    assert.match(note, /31/)
  }
  await a.page.getByRole("link", { name: "Estado" }).click()
  await a.page.locator("#conflicts").filter({ hasText: "tallies.z3.GAEM-2.families_affected" }).waitFor()
  await openZone(a.page, "z3")
  await shot(a.page, "6-conflicto", a.page.getByRole("note").first())

  // signing out forgets the token: the next visit asks for one
  await b.page.getByRole("link", { name: "Estado" }).click()
  await b.page.getByRole("button", { name: "Cerrar sesión" }).click()
  await b.page.getByLabel("Clave de acceso").waitFor()
  await b.page.reload()
  await b.page.getByLabel("Clave de acceso").waitFor()
  await b.context.close()
})
