// HQ's desk in the browser: Debian's Chromium (playwright-core) against a
// serving HQ node, at 1280 px (a desk) and at 360 px (a phone). Started by
// tests/hq_desk.rs, which sets up a double count, a concurrent value, an
// amendment proposal, a consolidated EDAN and a refused change; run alone
// it skips. With AYNI_SCREENSHOTS=DIR it saves the HQ screens there.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import jsQR from "jsqr"
import { Repo } from "@automerge/automerge-repo"
import { launch } from "./chromium.mjs"
import { Socket, api, eventually } from "./node.mjs"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/hq_desk.rs (needs a serving node)"
const base = `http://${env.AYNI_HTTP}/app/`
const hq = (path) => api("GET", path, env.AYNI_HQ_TOKEN).then((r) => r.json)

let browser
before(async () => {
  if (skip) return
  browser = await launch()
})
after(async () => browser?.close())

async function device(width) {
  const context = await browser.newContext({ viewport: { width, height: width > 400 ? 900 : 740 }, locale: "es-BO" })
  const page = await context.newPage()
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`))
  return { context, page }
}

async function signIn(page, token) {
  await page.goto(`${base}#token=${token}`)
  await page.getByRole("heading", { name: "Emergencias" }).waitFor()
}

async function shot(page, name) {
  if (!env.AYNI_SCREENSHOTS) return
  await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: `${env.AYNI_SCREENSHOTS}/${name}.png` })
}

/** The decision card of `type` whose text matches `text`. */
const card = (page, type, text) => page.locator(`li.decision[data-type="${type}"]`).filter({ hasText: text })

let desk
test("at a desk (1280 px), HQ accepts one team's figures for a double-counted zone and the situation report follows", { skip }, async () => {
  desk = await device(1280)
  const { page } = desk
  await signIn(page, env.AYNI_HQ_TOKEN)
  await page.locator("#waiting").filter({ hasText: /HQ \d+/ }).waitFor()
  await page.getByRole("link", { name: "HQ", exact: true }).click()
  await page.getByRole("heading", { name: "Decisiones pendientes" }).waitFor()
  await shot(page, "10-hq-decisiones")
  const z2 = card(page, "double_count", "Zona z2")
  await z2.getByRole("button", { name: "Aceptar GAEM-2" }).click()
  await page.locator("#live").filter({ hasText: "Hecho" }).waitFor()
  await eventually(async () => {
    const report = await hq("/api/v1/reports/event/ev-sama")
    const zone = report.edans.find((e) => e.key === "edan-sama-1").report.zones.find((z) => z.zone === "z2")
    return zone.decision === "accepted" && zone.source === "GAEM-2"
  }, "z2 accepted in the situation report")
  assert.equal(await card(page, "double_count", "Zona z2").count(), 0, "the decision left the queue")
  // the queue comes a page at a time; `count` is the whole queue's
  const page1 = (await api("GET", "/api/v1/decisions?limit=1", env.AYNI_HQ_TOKEN)).json
  assert.ok(page1.count > 1 && page1.decisions.length === 1, JSON.stringify(page1))
  const page2 = (await api("GET", "/api/v1/decisions?offset=1&limit=1", env.AYNI_HQ_TOKEN)).json
  assert.notDeepEqual(page2.decisions[0], page1.decisions[0])
  for (const bad of ["limit=0", "limit=x", "page=2"]) assert.equal((await api("GET", `/api/v1/decisions?${bad}`, env.AYNI_HQ_TOKEN)).status, 400, bad)
})

test("HQ settles a concurrent value, rejects an amendment and validates an EDAN", { skip }, async () => {
  const { page } = desk
  const conflict = card(page, "conflict", "title")
  const values = await conflict.locator("li strong").allTextContents()
  assert.equal(values.length, 2, values.join(" / "))
  assert.match(await conflict.textContent(), /field-0|via/, "each value says who wrote it")
  await conflict.getByRole("button", { name: "Resolver con este valor" }).first().click()
  await eventually(async () => !JSON.stringify(await hq("/api/v1/conflicts")).includes('"title"'), "the title settled")
  assert.equal((await hq("/api/v1/records/edan/edan-amend")).fields.title, values[0])

  const amendment = card(page, "amendment", "propuesta de enmienda")
  await amendment.getByRole("button", { name: "Rechazar" }).click()
  await eventually(async () => {
    const a = Object.values((await hq("/api/v1/records/edan/edan-amend")).fields.amendments ?? {})
    return a.length === 1 && a[0].decision?.status === "rejected"
  }, "the amendment rejected")

  const ready = card(page, "validate", "EDAN consolidada")
  await ready.getByRole("button", { name: "Validar" }).click()
  await eventually(async () => (await hq("/api/v1/records/edan/edan-sama-1")).status === "validated", "the EDAN validated")
  await card(page, "publish", "EDAN consolidada").waitFor()
})

test("HQ sees the field laptop's refused change in the audit", { skip }, async () => {
  const { page } = desk
  await page.goto(`${base}#/hq/audit`)
  const row = page.locator("#audit tr").filter({ hasText: "may not" })
  await row.first().waitFor()
  assert.match(await row.first().textContent(), /tallies/)
  await shot(page, "11-hq-rechazados")
})

test("on a phone (360 px), HQ issues a token whose QR code signs a second browser in, then revokes it", { skip }, async () => {
  const { page } = await device(360)
  await signIn(page, env.AYNI_HQ_TOKEN)
  await page.goto(`${base}#/hq/devices`)
  await page.locator("#d-name").fill("tablet-nueva")
  await page.locator("#d-role").selectOption("field")
  await page.locator("#d-team").fill("GAEM-2")
  await page.getByRole("button", { name: "Emitir clave y código QR" }).click()
  const qr = page.locator("#qr")
  await qr.waitFor()
  await shot(page, "12-hq-qr")
  // read the code as a phone's camera would: its pixels
  const { width, height, data } = await qr.evaluate(async (img) => {
    await img.decode()
    const c = document.createElement("canvas")
    c.width = img.naturalWidth || 280
    c.height = img.naturalHeight || 280
    const g = c.getContext("2d")
    g.fillStyle = "#fff"
    g.fillRect(0, 0, c.width, c.height)
    g.drawImage(img, 0, 0, c.width, c.height)
    const d = g.getImageData(0, 0, c.width, c.height)
    return { width: d.width, height: d.height, data: Array.from(d.data) }
  })
  const link = jsQR(new Uint8ClampedArray(data), width, height)?.data
  assert.ok(link?.startsWith(`${base}#token=`), `the QR code reads ${link}`)

  const phone = await device(360)
  await phone.page.goto(link)
  await phone.page.getByRole("heading", { name: "Emergencias" }).waitFor()
  assert.equal((await api("GET", "/api/v1/me", decodeURIComponent(link.split("#token=")[1]))).json.client, "tablet-nueva")
  // a field client sees no HQ screens, and the API refuses them
  assert.equal(await phone.page.getByRole("link", { name: "HQ", exact: true }).count(), 0)

  await page.goto(`${base}#/hq/devices`)
  await page.getByRole("button", { name: "Revocar tablet-nueva" }).click()
  await page.locator('tr[data-client="tablet-nueva"]').filter({ hasText: "Revocado" }).waitFor()
  // the revoked browser's next look at the node signs it out
  await phone.page.reload()
  await phone.page.getByLabel("Clave de acceso").waitFor({ timeout: 20000 })
  await phone.context.close()

  // enrolling a laptop shows the token it joins with, and its QR code
  await page.getByLabel(/ID del nodo/).fill(env.AYNI_NEW_NODE_ID)
  await page.locator("#l-name").fill("gaem-3-laptop")
  await page.locator("#l-role").selectOption("field")
  await page.getByRole("button", { name: "Enrolar y mostrar su clave" }).click()
  const join = (await page.locator("#enrol-token").textContent()).replace("ayni join ", "")
  await page.locator("#qr").waitFor()
  console.log(`ENROL ${join}`)
})

test("field and read clients get no HQ screen, and the API answers them 403", { skip }, async () => {
  for (const token of [env.AYNI_FIELD_TOKEN, env.AYNI_READ_TOKEN]) {
    for (const path of ["/api/v1/decisions", "/api/v1/audit", "/api/v1/clients", "/api/v1/members"]) {
      assert.equal((await api("GET", path, token)).status, 403, path)
    }
    // and every HQ write: issuing, revoking, enrolling, deciding an amendment
    const writes = [
      ["/api/v1/clients", { name: "x", role: "hq" }],
      ["/api/v1/clients/hq-panel/revoke", undefined],
      ["/api/v1/members", { node_id: env.AYNI_NEW_NODE_ID, role: "hq" }],
      [`/api/v1/members/${env.AYNI_NEW_NODE_ID}/revoke`, { reason: "x" }],
      ["/api/v1/records/edan/edan-amend/amendments/00", { decision: "accept" }],
    ]
    for (const [path, body] of writes) assert.equal((await api("POST", path, token, body)).status, 403, path)
  }
  // nor through the WebSocket: a field client's document edit that takes
  // an HQ decision (accepting a team's figures) is refused, naming the rule
  const socket = new Socket(`ws://${env.AYNI_HTTP}/automerge?token=${env.AYNI_FIELD_TOKEN}`, 500)
  const repo = new Repo({ network: [socket] })
  try {
    await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
    const edan = await repo.find(env.AYNI_AMEND_URL)
    edan.change((d) => {
      d.data.accepted = { z1: { team: "GAEM-1" } }
    })
    const error = await eventually(() => socket.errors.find((e) => e.includes("accepted")), "the node's refusal")
    assert.match(error, /role: field may not/)
    assert.equal((await hq("/api/v1/records/edan/edan-amend")).fields.accepted, undefined)
  } finally {
    await repo.shutdown()
  }

  const { page } = await device(360)
  await signIn(page, env.AYNI_FIELD_TOKEN)
  assert.equal(await page.getByRole("link", { name: "HQ", exact: true }).count(), 0)
  await page.goto(`${base}#/hq`)
  await page.getByRole("heading", { name: "Emergencias" }).waitFor()
})

test("the HQ screens pass axe's accessibility rules at both widths", { skip }, async () => {
  const axe = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8")
  for (const width of [1280, 360]) {
    const { page } = await device(width)
    await signIn(page, env.AYNI_HQ_TOKEN)
    for (const route of ["#/hq", "#/hq/audit", "#/hq/devices", "#/hq/live"]) {
      await page.goto(base + route)
      await page.locator("main h1").waitFor()
      await page.evaluate(axe)
      const found = await page.evaluate(async () => (await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] })).violations)
      const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical")
      assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `on ${route} at ${width}px`)
    }
  }
})

test("live: a record written on the node appears as it lands", { skip }, async () => {
  const { page } = desk
  await page.goto(`${base}#/hq/live`)
  await page.getByRole("heading", { name: "En vivo" }).waitFor()
  await new Promise((r) => setTimeout(r, 500))
  const made = await api("POST", "/api/v1/records/person", env.AYNI_HQ_TOKEN, { key: "p-en-vivo", full_name: "Persona en vivo" })
  assert.equal(made.status, 201)
  await page.locator("#live-changes li").filter({ hasText: "Persona en vivo" }).waitFor()
  await page.locator("#peers tr").filter({ hasText: "field-0" }).waitFor()
})
