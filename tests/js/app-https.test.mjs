// The field app over HTTPS under HQ's name (tests/field_app.rs): a
// certificate the browser trusts makes the page a secure context, so the
// service worker installs and the app opens with no network.
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash, X509Certificate } from "node:crypto"
import { readFileSync } from "node:fs"
import { launch } from "./chromium.mjs"

const env = process.env
const skip = !env.AYNI_ORIGIN && "run by tests/field_app.rs (needs a serving node)"

test("over HTTPS with a trusted certificate the app installs its service worker and opens offline", { skip }, async () => {
  const origin = new URL(env.AYNI_ORIGIN)
  // the browser trusts this key, as it would a certificate from a CA it knows
  const spki = new X509Certificate(readFileSync(env.AYNI_CERT)).publicKey.export({ type: "spki", format: "der" })
  const pin = createHash("sha256").update(spki).digest("base64")
  const browser = await launch([
    `--host-resolver-rules=MAP ${origin.hostname} 127.0.0.1`,
    `--ignore-certificate-errors-spki-list=${pin}`,
  ])
  try {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "es-BO" })
    const page = await context.newPage()
    await page.goto(`${origin.origin}/app/#token=${env.AYNI_TABLET_TOKEN}`)
    await page.getByRole("heading", { name: "Emergencias" }).waitFor()
    assert.equal(await page.evaluate(() => window.isSecureContext), true)
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 })
    // the EDAN opened once online is on the device
    await page.getByRole("link", { name: /EDAN consolidada/ }).click()
    await page.getByRole("heading", { name: /Zona z2/ }).waitFor()
    await page.getByRole("link", { name: "Emergencias" }).click()

    await context.setOffline(true)
    await page.reload()
    await page.getByRole("link", { name: /EDAN consolidada/ }).click()
    await page.getByRole("heading", { name: /Zona z2/ }).waitFor()
  } finally {
    await browser.close()
  }
})
