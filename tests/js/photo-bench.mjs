// Measures photos from the field app over a bad link (driven by
// benches/photos.rs; prints one JSON line): offline, a responder creates
// an EDAN and takes N camera-sized photos (reduced by the app to about
// 1600 px JPEG); then the link comes back with a profile's round trip and
// rate (Chromium's network throttling), and the clock runs until HQ holds
// the record and every photo. The baseline: the photos' bytes ÷ the rate.
//
// node photo-bench.mjs HTTP TOKEN HQ_TOKEN PHOTOS DELAY_MS RATE_BPS
import { launch } from "./chromium.mjs"

const [http, token, hqToken] = process.argv.slice(2, 5)
const [photos, delayMs, rateBps] = process.argv.slice(5, 8).map(Number)
const base = `http://${http}/app/`
const browser = await launch()
const context = await browser.newContext({
  viewport: { width: 360, height: 740 }, locale: "es-BO",
  geolocation: { latitude: -21.52, longitude: -64.73, accuracy: 8 }, permissions: ["geolocation"],
})
const page = await context.newPage()
page.on("pageerror", (e) => console.error(`page error: ${e.message}`))
const cdp = await context.newCDPSession(page)
await cdp.send("Network.enable")
const link = (o) => cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1, ...o })

const api = async (path) => {
  const r = await fetch(`http://${http}${path}`, { headers: { authorization: `Bearer ${hqToken}` } })
  return { status: r.status, json: r.headers.get("content-type")?.includes("json") ? await r.json() : null }
}

await page.goto(`${base}#token=${token}`)
await page.getByRole("heading", { name: "Emergencias" }).waitFor()
await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30000 })
await page.waitForFunction(async () => (await caches.open("ayni-schemas").then((c) => c.keys())).length >= 4, null, { timeout: 30000 })

// a camera's photo of a scene: smooth light and detail, as a JPEG encoder meets them
const pictures = []
for (let i = 0; i < photos; i++) {
  const b64 = await page.evaluate(async (seed) => {
    const c = document.createElement("canvas")
    c.width = 4000
    c.height = 3000
    const g = c.getContext("2d")
    const sky = g.createLinearGradient(0, 0, 0, 3000)
    sky.addColorStop(0, `hsl(${200 + seed} 50% 70%)`)
    sky.addColorStop(1, `hsl(${30 + seed * 3} 40% 35%)`)
    g.fillStyle = sky
    g.fillRect(0, 0, 4000, 3000)
    let x = seed * 7919 + 1
    const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648)
    for (let k = 0; k < 4000; k++) {
      g.fillStyle = `hsl(${rnd() * 60 + 10} ${30 + rnd() * 40}% ${20 + rnd() * 50}%)`
      g.fillRect(rnd() * 4000, 1200 + rnd() * 1800, 20 + rnd() * 160, 10 + rnd() * 120)
    }
    const data = g.getImageData(0, 0, 4000, 3000)
    for (let p = 0; p < data.data.length; p += 4) {
      const n = (rnd() - 0.5) * 24
      data.data[p] += n
      data.data[p + 1] += n
      data.data[p + 2] += n
    }
    g.putImageData(data, 0, 0)
    const blob = await new Promise((r) => c.toBlob(r, "image/jpeg", 0.9))
    const bytes = new Uint8Array(await blob.arrayBuffer())
    let s = ""
    for (let j = 0; j < bytes.length; j += 8192) s += String.fromCharCode(...bytes.subarray(j, j + 8192))
    return btoa(s)
  }, i)
  pictures.push({ name: `foto-${i + 1}.jpg`, mimeType: "image/jpeg", buffer: Buffer.from(b64, "base64") })
}

await link({ offline: true })
await page.reload()
await page.getByRole("link", { name: "Nueva evaluación EDAN" }).click()
await page.getByLabel("Nombre").fill("Barrio Alto")
await page.getByRole("button", { name: "Crear la EDAN" }).click()
await page.getByRole("heading", { name: /Su equipo/ }).waitFor()
const id = decodeURIComponent(new URL(page.url()).hash.split("/")[2])
await page.locator("#f-photos").setInputFiles(pictures)
await page.waitForFunction((n) => document.querySelectorAll("#photos li").length === n, photos, { timeout: 120000 })

const t0 = Date.now()
await link({ latency: 2 * delayMs, downloadThroughput: rateBps / 8, uploadThroughput: rateBps / 8 })
let record = null
const have = new Set()
for (;;) {
  if (!record) {
    const r = await api(`/api/v1/records/edan/${id}`)
    if (r.status === 200 && Object.keys(r.json.fields.attachments ?? {}).length === photos) record = r.json
  }
  if (record) {
    for (const hash of Object.keys(record.fields.attachments)) {
      if (!have.has(hash) && (await fetch(`http://${http}/api/v1/blobs/${hash}`, { method: "GET", headers: { authorization: `Bearer ${hqToken}` } })).status === 200) have.add(hash)
    }
    if (have.size === photos) break
  }
  if (Date.now() - t0 > 3600000) throw new Error("over an hour")
  await new Promise((r) => setTimeout(r, 250))
}
const seconds = (Date.now() - t0) / 1000
const bytes = Object.values(record.fields.attachments).reduce((a, p) => a + p.size, 0)
const taken = pictures.reduce((a, p) => a + p.buffer.length, 0)
await browser.close()
console.log(JSON.stringify({ photos, bytes, taken_bytes: taken, seconds, ideal: (bytes * 8) / rateBps }))
