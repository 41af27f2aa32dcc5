// Responders create in the field: the app, offline at phone width, makes a
// new EDAN with a zone, a tally and two photos (the file chooser standing
// in for the camera); all of it survives a reload with no network, the
// photos shown as waiting; once the network is back the node holds the
// record and the photos byte for byte. A creation the role does not
// permit is refused, said in Spanish, and reaches no node. Started by
// tests/field_app.rs; run alone it skips.
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { launch } from "./chromium.mjs"
import { api, eventually } from "./node.mjs"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/field_app.rs (needs a serving node)"
const base = `http://${env.AYNI_HTTP}/app/`

let browser, context, page
before(async () => {
  if (skip) return
  browser = await launch()
  context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    hasTouch: true,
    locale: "es-BO",
    geolocation: { latitude: -21.5203, longitude: -64.7311, accuracy: 8 },
    permissions: ["geolocation"],
  })
  page = await context.newPage()
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`))
})
after(async () => browser?.close())

async function shot(name, at) {
  if (!env.AYNI_SCREENSHOTS) return
  if (at) await at.evaluate((e) => { e.scrollIntoView({ block: "start" }); window.scrollBy(0, -60) })
  else await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: `${env.AYNI_SCREENSHOTS}/${name}.png` })
}

/** HQ's view of the node's API. */
const hq = (path) => api("GET", path, env.AYNI_HQ_TOKEN)

/** A camera-sized photo (2400×1800, a different picture for each `seed`), as PNG bytes made by the browser. */
async function picture(seed) {
  const b64 = await page.evaluate(async (seed) => {
    const c = document.createElement("canvas")
    c.width = 2400
    c.height = 1800
    const g = c.getContext("2d")
    for (let i = 0; i < 40; i++) {
      g.fillStyle = `hsl(${(seed * 97 + i * 37) % 360} 60% 50%)`
      g.fillRect((i * 131 * seed) % 2200, (i * 71) % 1600, 300, 200)
    }
    const blob = await new Promise((r) => c.toBlob(r, "image/png"))
    const bytes = new Uint8Array(await blob.arrayBuffer())
    let s = ""
    for (const b of bytes) s += String.fromCharCode(b)
    return btoa(s)
  }, seed)
  return Buffer.from(b64, "base64")
}

let created, hashes

test("offline, a responder creates an EDAN with a zone, a tally and two photos; a reload offline keeps them all", { skip }, async () => {
  await page.goto(base)
  await page.getByLabel("Clave de acceso").fill(env.AYNI_TABLET_TOKEN)
  await page.getByRole("button", { name: "Ingresar" }).click()
  await page.getByRole("heading", { name: "Emergencias" }).waitFor()
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 })
  const photos = [await picture(1), await picture(2)]
  // the schemas the forms check with are on the phone before it goes out
  await page.waitForFunction(async () => (await caches.open("ayni-schemas").then((c) => c.keys())).length >= 4, null, { timeout: 15000 })

  await context.setOffline(true)
  await page.reload()
  await page.getByRole("link", { name: "Nueva evaluación EDAN" }).click()
  await page.getByRole("heading", { name: "Nueva evaluación EDAN" }).waitFor()
  await page.getByLabel("Evento").selectOption("ev-sama")
  await page.getByLabel("Tipo de EDAN").selectOption("preliminar")
  await page.getByLabel("Departamento").selectOption("tarija")
  await page.getByLabel("Comunidad o zona").fill("Tomatitas")
  await page.getByLabel("Observación directa").check()
  await page.getByLabel(/Código de la zona/).fill("z1")
  await page.getByLabel("Nombre").fill("Barrio Alto")
  await shot("8-nueva-edan")
  await page.getByRole("button", { name: "Crear la EDAN" }).click()
  await page.getByRole("heading", { name: /Su equipo: GAEM-2/ }).waitFor()
  created = decodeURIComponent(new URL(page.url()).hash.split("/")[2])

  await page.getByLabel("Familias afectadas").fill("7")
  await page.getByLabel("Viviendas destruidas").fill("2")
  await page.getByRole("button", { name: "Guardar" }).click()
  await page.locator("#live").filter({ hasText: "Guardado" }).waitFor()

  await page.locator("#f-photos").setInputFiles([
    { name: "casa-1.png", mimeType: "image/png", buffer: photos[0] },
    { name: "casa-2.png", mimeType: "image/png", buffer: photos[1] },
  ])
  await page.waitForFunction(() => document.querySelectorAll("#photos li").length === 2)
  assert.equal(await page.locator("#photos").getByText("Pendiente de enviar").count(), 2)
  hashes = await page.locator("#photos [data-hash]").evaluateAll((els) => els.map((e) => e.dataset.hash))
  // a file that is no picture: said plainly, kept nowhere, nothing else lost
  await page.locator("#f-photos").setInputFiles([{ name: "nota.png", mimeType: "image/png", buffer: Buffer.from("no es una foto") }])
  await page.locator("#photos-alert").filter({ hasText: "no es una foto que este equipo pueda leer (nota.png)" }).waitFor()
  assert.equal(await page.locator("#photos li").count(), 2)
  await shot("9-fotos", page.getByRole("heading", { name: "Fotos" }))

  // closed and opened again with no network: the EDAN, its tally and its photos
  await page.reload()
  await page.getByRole("link", { name: "Emergencias" }).click()
  await page.getByRole("link", { name: /EDAN preliminar — Barrio Alto/ }).click()
  await page.getByRole("link", { name: /conteo de mi equipo/ }).click()
  assert.equal(await page.getByLabel("Familias afectadas").inputValue(), "7")
  await page.waitForFunction(() => document.querySelectorAll("#photos li").length === 2)
  assert.equal(await page.locator("#photos").getByText("Pendiente de enviar").count(), 2)
  await page.getByRole("link", { name: "Estado" }).click()
  await page.getByText("Fotos pendientes de enviar: 2").waitFor()
  assert.equal((await hq(`/api/v1/records/edan/${created}`)).status, 404, "nothing left the phone")
})

test("back online, the node holds the record and both photos byte for byte, attributed to the client", { skip }, async () => {
  await context.setOffline(false)
  const rec = await eventually(async () => {
    const r = await hq(`/api/v1/records/edan/${created}`)
    return r.status === 200 && Object.keys(r.json.fields.attachments ?? {}).length === 2 && r.json.fields.tallies?.z1?.["GAEM-2"] && r.json
  }, "the record on the node", 30000)
  assert.match(rec.created_by, /^client tablet-1 via /)
  assert.equal(rec.fields.tallies.z1["GAEM-2"].families_affected, 7)
  assert.equal(rec.fields.zones.z1.name, "Barrio Alto")
  assert.deepEqual([rec.fields.zones.z1.geo.lat, rec.fields.zones.z1.geo.lon], [-21.5203, -64.7311])
  assert.deepEqual(Object.keys(rec.fields.attachments).sort(), [...hashes].sort())
  for (const a of Object.values(rec.fields.attachments)) {
    assert.equal(a.zone, "z1")
    assert.equal(a.mime, "image/jpeg", "reduced to JPEG")
    assert.equal(a.geo.captured_by, "gps")
    assert.ok(a.captured_at)
  }
  for (const hash of hashes) {
    const blob = await eventually(async () => {
      const r = await hq(`/api/v1/blobs/${hash}`)
      return r.status === 200 && r.bytes
    }, `photo ${hash} on the node`)
    assert.equal(createHash("sha256").update(blob).digest("hex"), hash)
    // reduced: the longest side 1600 px (JPEG's SOF0 frame holds height, width)
    const sof = blob.indexOf(Buffer.from([0xff, 0xc0]))
    assert.deepEqual([blob.readUInt16BE(sof + 7), blob.readUInt16BE(sof + 5)], [1600, 1200])
  }
  await page.goto(`${base}#/s`)
  await page.getByText("Todas las fotos están en el nodo").waitFor({ timeout: 20000 })
  console.log(`CREATED ${created}`)
  console.log(`PHOTOS ${hashes.join(" ")}`)
})

test("a mission's log entry carries a photo from the phone; the node has both", { skip }, async () => {
  await page.goto(`${base}#/m/ac-lum-tarija`)
  const text = "Visita a la planta: el equipo capacitado opera el tablero"
  await page.getByLabel("Texto").fill(text)
  await page.locator("#f-log-photos").setInputFiles([{ name: "tablero.png", mimeType: "image/png", buffer: await picture(3) }])
  await page.getByRole("button", { name: "Añadir a la bitácora" }).click()
  const entry = await eventually(async () => {
    const r = await hq("/api/v1/records/mission/ac-lum-tarija")
    return Object.values(r.json.fields.log ?? {}).find((l) => l.text === text)
  }, "the log entry on the node")
  assert.equal(entry.attachments.length, 1)
  const hash = entry.attachments[0].hash
  const blob = await eventually(async () => {
    const r = await hq(`/api/v1/blobs/${hash}`)
    return r.status === 200 && r.bytes
  }, "the log's photo on the node")
  assert.equal(createHash("sha256").update(blob).digest("hex"), hash)
})

test("a creation the role does not permit is refused: the app says why in Spanish, and no node has it", { skip }, async () => {
  const url = await page.evaluate(() => window.ayni.create("practice", { title_es: "Práctica inventada" }, "Práctica inventada"))
  const id = url.replace("automerge:", "")
  await eventually(async () => {
    await page.goto(`${base}#/s`)
    return (await page.locator("#refused").getByText("Su rol (de campo) no permite crear registros de tipo «práctica del catálogo».").count()) > 0
  }, "the refusal on the phone")
  assert.equal((await hq(`/api/v1/records/practice/${id}`)).status, 404)
  console.log(`REFUSED ${id}`)
})
