// Measures the field app's loads in Debian's Chromium (driven by
// benches/app.rs; prints one JSON line): what a first visit transfers
// (every HTTP response's encoded size, headers included; the WebSocket's
// document sync counted apart), and how long until the first screen shows
// its records — first visit, a later visit (service worker and IndexedDB),
// a later visit with no network — on this machine's core and with the CPU
// slowed CPU_SLOWDOWN times (an old Android phone).
//
// node app-bench.mjs HTTP TOKEN RUNS CPU_SLOWDOWN
import { launch } from "./chromium.mjs"

const [http, token, runs, slowdown] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 5), Number(process.argv[5] ?? 4)]
const base = `http://${http}/app/`
const browser = await launch()

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function firstScreen(page) {
  await page.getByRole("link", { name: /EDAN consolidada/ }).waitFor({ timeout: 60000 })
}

async function visit(rate) {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "es-BO" })
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send("Network.enable")
  await cdp.send("Emulation.setCPUThrottlingRate", { rate })
  const bytes = { assets: 0, api: 0, websocket: 0, resources: {} }
  const urls = new Map()
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url))
  cdp.on("Network.loadingFinished", (e) => {
    const url = urls.get(e.requestId) ?? ""
    const path = new URL(url, base).pathname
    if (path.startsWith("/app/")) {
      bytes.assets += e.encodedDataLength
      bytes.resources[path] = e.encodedDataLength
    } else bytes.api += e.encodedDataLength
  })
  cdp.on("Network.webSocketFrameReceived", (e) => (bytes.websocket += e.response.payloadData.length))
  cdp.on("Network.webSocketFrameSent", (e) => (bytes.websocket += e.response.payloadData.length))

  let t = Date.now()
  await page.goto(`${base}#token=${token}`)
  await firstScreen(page)
  const first = Date.now() - t
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60000 })
  // let the device take every record (keepOnDevice) before the later visits
  await page.waitForTimeout(3000)
  const firstBytes = { assets: bytes.assets, api: bytes.api, resources: { ...bytes.resources } }

  t = Date.now()
  await page.reload()
  await firstScreen(page)
  const later = Date.now() - t

  await context.setOffline(true)
  t = Date.now()
  await page.reload()
  await firstScreen(page)
  const offline = Date.now() - t
  await context.close()
  return { first, later, offline, bytes: firstBytes, websocket: bytes.websocket }
}

const out = {}
for (const [name, rate] of [["this_core", 1], [`cpu_${slowdown}x_slower`, slowdown]]) {
  const all = []
  for (let i = 0; i < runs; i++) all.push(await visit(rate))
  out[name] = {
    first_ms: median(all.map((r) => r.first)),
    later_ms: median(all.map((r) => r.later)),
    offline_ms: median(all.map((r) => r.offline)),
    runs: all.map((r) => [r.first, r.later, r.offline]),
  }
  out.first_visit_bytes = all[0].bytes
  out.websocket_bytes = all[0].websocket
}
await browser.close()
console.log(JSON.stringify(out))
