// Debian's Chromium, started by playwright-core (which downloads no
// browser) the way this machine's closed network needs: no background
// connections, no sandbox (the tests run as root). AYNI_CHROMIUM names
// another binary.
import { chromium } from "playwright-core"

export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.AYNI_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
  })
}
