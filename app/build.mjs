// Builds the field app into dist/, which the ayni binary embeds
// (api/src/app.rs). esbuild: one small, fast dependency, no dev server, and
// the same bytes from the same sources on every machine — dist/ is
// committed (so a fresh clone builds `ayni` with no Node.js) and
// `node build.mjs --check` (run by scripts/test) fails when it is stale.
//
// Output: app.js, automerge.wasm (copied from the pinned package), and
// sw.js, which carries the app's file list and a hash of all of them (its
// cache name) — the hand-written files in static/ (index.html, app.css,
// manifest.webmanifest, icon.svg) are embedded from there, not copied.
import { build } from "esbuild"
import { createHash } from "node:crypto"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const check = process.argv.includes("--check")
const here = new URL(".", import.meta.url).pathname
const out = check ? mkdtempSync(join(tmpdir(), "ayni-app-")) : join(here, "dist")
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

const common = { bundle: true, minify: true, target: "es2020", platform: "browser", legalComments: "none", logLevel: "warning" }
await build({ ...common, entryPoints: [join(here, "src/main.ts")], outfile: join(out, "app.js"), format: "esm" })
cpSync(join(here, "node_modules/@automerge/automerge/dist/automerge.wasm"), join(out, "automerge.wasm"))

const where = new Map([...readdirSync(out).map((f) => [f, out]), ...readdirSync(join(here, "static")).map((f) => [f, join(here, "static")])])
const files = [...where.keys()].sort()
const hash = createHash("sha256")
for (const f of files) hash.update(f).update(readFileSync(join(where.get(f), f)))
await build({
  ...common,
  entryPoints: [join(here, "src/sw.ts")],
  outfile: join(out, "sw.js"),
  format: "iife",
  define: { __BUILD__: JSON.stringify(hash.digest("hex").slice(0, 16)), __FILES__: JSON.stringify(files) },
})

if (check) {
  const dist = join(here, "dist")
  const want = readdirSync(out).sort()
  let have = []
  try {
    have = readdirSync(dist).sort()
  } catch {}
  const stale = want.filter((f) => !have.includes(f) || !readFileSync(join(out, f)).equals(readFileSync(join(dist, f))))
  const extra = have.filter((f) => !want.includes(f))
  rmSync(out, { recursive: true, force: true })
  if (stale.length || extra.length) {
    console.error(`app/dist is not what app/ builds (${[...stale, ...extra].join(", ")}): run \`npm run build\` in app/ and commit app/dist`)
    process.exit(1)
  }
  console.log("app/dist matches its sources")
} else {
  for (const f of readdirSync(out).sort()) console.log(`${f}\t${readFileSync(join(out, f)).length} bytes`)
}
