// A client that writes records the way automerge-repo's own docs show:
// `repo.create()`, plain JS strings and numbers, `JSON.stringify(doc)`;
// and README's third-party example, run as written. Started by
// tests/automerge_repo.rs with a serving node's address, tokens and a
// record in environment variables; run alone it skips.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Repo } from "@automerge/automerge-repo"
import { Socket, api, eventually } from "./node.mjs"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/automerge_repo.rs (needs a serving node)"
const here = dirname(fileURLToPath(import.meta.url))

async function connect(token) {
  const socket = new Socket(`ws://${env.AYNI_HTTP}/automerge?token=${token}`, 500)
  const repo = new Repo({ network: [socket] })
  await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  return { repo, socket }
}


/** A new record's envelope, as FORMATS.md describes it, for `handle`'s document. */
const envelope = (handle, me, kind, data) => ({
  ayni: 1,
  kind,
  key: handle.documentId,
  id: handle.documentId,
  created_at: new Date().toISOString(),
  created_by: me.author,
  live: "1",
  transitions: {},
  data,
})

test("a field client creates an EDAN with repo.create() and plain strings; it becomes a record attributed to the client", { skip }, async () => {
  const me = (await api("GET", "/api/v1/me", env.AYNI_FIELD_TOKEN)).json
  assert.match(me.author, /^client gaem-1-tablet via /)
  assert.ok(me.may_create.includes("edan") && !me.may_create.includes("practice"), JSON.stringify(me.may_create))
  const { repo } = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const handle = repo.create()
    handle.change((d) =>
      Object.assign(d, envelope(handle, me, "edan", {
        title: "EDAN preliminar Achocalla",
        event_id: env.AYNI_EVENT_ID,
        edan_type: "preliminar",
        zones: { z1: { name: "Barrio Alto", geo: { lat: -16.57, lon: -68.16, captured_by: "gps" } } },
        tallies: { z1: { "GAEM-1": { houses_destroyed: 4 } } },
      })),
    )
    assert.doesNotThrow(() => JSON.stringify(handle.doc()))
    const made = await eventually(async () => {
      const r = await api("GET", `/api/v1/records/edan/${handle.documentId}`, env.AYNI_HQ_TOKEN)
      return r.status === 200 && r.json
    }, "the new EDAN on the node")
    assert.equal(made.created_by, me.author)
    assert.equal(made.fields.title, "EDAN preliminar Achocalla")
    assert.equal(made.fields.tallies.z1["GAEM-1"].houses_destroyed, 4)
    console.log(`CREATED ${handle.documentId}`)

    // later edits of it, plain strings again, are taken too
    handle.change((d) => {
      d.data.zones.z1.coverage_status = "in_progress"
    })
    await eventually(async () => {
      const r = await api("GET", `/api/v1/records/edan/${handle.documentId}`, env.AYNI_HQ_TOKEN)
      return r.json.fields.zones.z1.coverage_status === "in_progress"
    }, "the later edit")
  } finally {
    await repo.shutdown()
  }
})

test("a node-made record reads as plain JSON, and a plain JS string written into it is read as that string", { skip }, async () => {
  const { repo } = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const edan = await repo.find(env.AYNI_RECORD_URL)
    const doc = JSON.parse(JSON.stringify(edan.doc()))
    assert.equal(typeof edan.doc().ayni, "number")
    assert.equal(doc.ayni, 1)
    assert.equal(doc.key, env.AYNI_RECORD_KEY)
    edan.change((d) => {
      d.data.title = "EDAN Sama (desde un script)"
    })
    await eventually(async () => {
      const r = await api("GET", `/api/v1/records/edan/${env.AYNI_RECORD_KEY}`, env.AYNI_HQ_TOKEN)
      return r.json.fields.title === "EDAN Sama (desde un script)"
    }, "the plain string on the node")
  } finally {
    await repo.shutdown()
  }
})

test("a creation the role does not permit is refused with an error naming the rule, and stored nowhere", { skip }, async () => {
  const me = (await api("GET", "/api/v1/me", env.AYNI_FIELD_TOKEN)).json
  const { repo, socket } = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const handle = repo.create()
    handle.change((d) => Object.assign(d, envelope(handle, me, "practice", { title_es: "Práctica inventada" })))
    const error = await eventually(() => socket.errors.find((e) => e.includes(handle.documentId)), "the node's error")
    assert.match(error, /may not create practice records/)
    const r = await api("GET", `/api/v1/records/practice/${handle.documentId}`, env.AYNI_HQ_TOKEN)
    assert.equal(r.status, 404)
    console.log(`REFUSED ${handle.documentId}`)
  } finally {
    await repo.shutdown()
  }
})

test("README's client example runs as written", { skip }, async () => {
  const readme = readFileSync(join(here, "..", "..", "README.md"), "utf8")
  const code = /<!-- client example -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(code, "README has the client example")
  assert.ok(code.trim().split("\n").length <= 10, "ten lines")
  const file = join(here, "readme-example.mjs")
  writeFileSync(file, code)
  try {
    const out = execFileSync(process.execPath, [file], { env: { ...env, AYNI_TOKEN: env.AYNI_FIELD_TOKEN }, encoding: "utf8", timeout: 30000 })
    const needs = JSON.parse(out.trim().split("\n").at(-1))
    assert.ok(Object.values(needs).some((n) => n.item === "Raciones secas"), out)
  } finally {
    rmSync(file, { force: true })
  }
  // the node took the need (the script waited for it)
  const listing = (await api("GET", "/api/v1/records/edan", env.AYNI_HQ_TOKEN)).json
  assert.ok(listing.some((r) => Object.values(r.fields.needs ?? {}).some((n) => n.item === "Raciones secas")), "the need on the node")
})
