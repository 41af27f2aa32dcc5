// The official automerge-repo client (JavaScript, as a browser or a Node
// script runs it) against a running Ayni node. Started by
// tests/automerge_repo.rs, which passes the node's address, tokens and a
// record in environment variables; run alone it skips.
import { test } from "node:test"
import assert from "node:assert/strict"
import { ImmutableString } from "@automerge/automerge"
import { Repo, generateAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import WebSocket from "ws"
import { api, eventually } from "./node.mjs"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/automerge_repo.rs (needs a serving node)"
const ws = (token) => `ws://${env.AYNI_HTTP}/automerge${token === undefined ? "" : `?token=${token}`}`

/**
 * The document as plain JSON. A record's strings are automerge scalar
 * strings (keys, enums, free text alike), which automerge 3 reads as
 * `ImmutableString` (apps use `String(x)`), and its layout version `ayni`
 * is an unsigned integer, read as a BigInt.
 */
const plain = (v) =>
  JSON.parse(
    JSON.stringify(v, (_k, x) =>
      x instanceof ImmutableString ? x.toString() : typeof x === "bigint" ? Number(x) : x,
    ),
  )

/** A repo connected to the node, once the node answered `join`. */
async function connect(token) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(ws(token), 500)] })
  await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  return repo
}

/** Resolves when `handle`'s document satisfies `ok`, or fails after `ms`. */
function until(handle, ok, ms = 15000) {
  return new Promise((resolve, reject) => {
    if (ok(handle.doc())) return resolve(handle.doc())
    const timer = setTimeout(() => reject(new Error(`timed out; the title is ${String(handle.doc()?.data?.title)}`)), ms)
    handle.on("change", ({ doc }) => {
      if (ok(doc)) {
        clearTimeout(timer)
        resolve(doc)
      }
    })
  })
}


/** The HTTP status the node answers a WebSocket upgrade with (101 = open). */
function upgradeStatus(url) {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    socket.on("unexpected-response", (_req, res) => resolve(res.statusCode))
    socket.on("open", () => {
      socket.close()
      resolve(101)
    })
    socket.on("error", () => {})
  })
}

test("a field client reads a record by its URL and follows the node's changes", { skip }, async () => {
  const repo = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const handle = await repo.find(env.AYNI_RECORD_URL)
        const doc = plain(handle.doc())
    assert.equal(doc.kind, "edan")
    assert.equal(doc.key, env.AYNI_RECORD_KEY)
    // the document's fields are the record's, as `ayni get --json` shows them
        assert.deepEqual(doc.data, JSON.parse(env.AYNI_RECORD_FIELDS))
    assert.equal(doc.data.tallies.z1["GAEM-1"].injured, 2)

    // HQ edits the record on the node: the open document follows
    const title = `${doc.data.title} (revisada)`
    const r = await api("PATCH", `/api/v1/records/edan/${env.AYNI_RECORD_KEY}`, env.AYNI_HQ_TOKEN, { set: { title } })
    assert.equal(r.status, 200)
        await until(handle, (d) => String(d?.data?.title) === title)

  } finally {
    await repo.shutdown()
  }
})


const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const record = (kind, key) => api("GET", `/api/v1/records/${kind}/${key}`, env.AYNI_HQ_TOKEN).then((r) => r.json)

test("a field client writes its own team's tally; its edits of a catalogue practice and of another team's tally are refused", { skip }, async () => {
  const repo = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const edan = await repo.find(env.AYNI_RECORD_URL)
    const practice = await repo.find(env.AYNI_PRACTICE_URL)
    const practiceBefore = (await record("practice", env.AYNI_PRACTICE_KEY)).fields
    edan.change((d) => {
      d.data.tallies.z1["GAEM-1"].injured = 5
    })
    await eventually(async () => (await record("edan", env.AYNI_RECORD_KEY)).fields.tallies.z1["GAEM-1"].injured === 5, "the tally on the node")

    // refused: a catalogue practice's title; the client's edits of other
    // documents still sync
    practice.change((d) => {
      d.data.title_es = new ImmutableString("cambiado en el teléfono")
    })
    edan.change((d) => {
      d.data.tallies.z1["GAEM-1"].missing = 1
    })
    await eventually(async () => (await record("edan", env.AYNI_RECORD_KEY)).fields.tallies.z1["GAEM-1"].missing === 1, "the later tally")
    // refused: another team's tally (and, causally, whatever this copy of
    // the document builds on it)
    edan.change((d) => {
      d.data.tallies.z1["GAEM-2"] = { dead: 9 }
    })
    await sleep(500)
    const edanAfter = (await record("edan", env.AYNI_RECORD_KEY)).fields
    assert.equal(edanAfter.tallies.z1["GAEM-2"], undefined)
    assert.deepEqual((await record("practice", env.AYNI_PRACTICE_KEY)).fields, practiceBefore)
    // the refused changes stay on the device
    assert.equal(String(practice.doc().data.title_es), "cambiado en el teléfono")
    assert.equal(edan.doc().data.tallies.z1["GAEM-2"].dead, 9)
  } finally {
    await repo.shutdown()
  }
})

test("a client finds records through the index, which follows the node's records and takes no changes", { skip }, async () => {
  const repo = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const listing = await api("GET", "/api/v1/index", env.AYNI_FIELD_TOKEN)
    assert.equal(listing.status, 200)
    assert.equal(listing.json.url, env.AYNI_INDEX_URL)
    assert.equal(listing.json.records.edan[env.AYNI_RECORD_KEY].url, env.AYNI_RECORD_URL)
    const index = await repo.find(listing.json.url)
    const entry = plain(index.doc()).records.edan[env.AYNI_RECORD_KEY]
    assert.equal(entry.url, env.AYNI_RECORD_URL)
    const found = await repo.find(entry.url)
    assert.equal(String(found.doc().key), env.AYNI_RECORD_KEY)

    // a record added on the node appears in the open index
    const made = await api("POST", "/api/v1/records/person", env.AYNI_HQ_TOKEN, { key: "p-indice", full_name: "Persona del índice" })
    assert.equal(made.status, 201)
    const doc = await until(index, (d) => d?.records?.person?.["p-indice"] !== undefined)
    assert.equal(String(doc.records.person["p-indice"].title), "Persona del índice")
    assert.equal(String(doc.records.person["p-indice"].url), made.json.url)

    // nobody writes the index: an edit stays on the device
    index.change((d) => {
      d.records.edan[env.AYNI_RECORD_KEY].title = new ImmutableString("cambiado")
    })
    await sleep(1000)
    const again = await api("GET", "/api/v1/index", env.AYNI_FIELD_TOKEN)
    assert.notEqual(again.json.records.edan[env.AYNI_RECORD_KEY].title, "cambiado")

    // a partner's index lists only what it may read
    const partner = await api("GET", "/api/v1/index", env.AYNI_PARTNER_TOKEN)
    assert.notEqual(partner.json.url, env.AYNI_INDEX_URL)
    assert.equal(partner.json.records.edan, undefined)
    assert.ok(partner.json.records.practice["BP-MMS"])
  } finally {
    await repo.shutdown()
  }
})

test("an unknown document is unavailable", { skip }, async () => {
  const repo = await connect(env.AYNI_FIELD_TOKEN)
  try {
    await assert.rejects(repo.find(generateAutomergeUrl()), /unavailable/)
  } finally {
    await repo.shutdown()
  }
})

test("a partner's read client opens the catalogue; a record it may not read is unavailable, like an unknown one", { skip }, async () => {
  const repo = await connect(env.AYNI_PARTNER_TOKEN)
  try {
    const practice = await repo.find(env.AYNI_PRACTICE_URL)
    assert.equal(String(practice.doc().kind), "practice")
    await assert.rejects(repo.find(env.AYNI_RECORD_URL), /unavailable/)
    // a read client's edit stays on its device
    const before = (await record("practice", env.AYNI_PRACTICE_KEY)).fields
    practice.change((d) => {
      d.data.summary = new ImmutableString("editado por un socio")
    })
    await sleep(1000)
    assert.deepEqual((await record("practice", env.AYNI_PRACTICE_KEY)).fields, before)
  } finally {
    await repo.shutdown()
  }
})

test("no token, a wrong one, a revoked one and an expired one are refused at the upgrade", { skip }, async () => {
  assert.equal(await upgradeStatus(ws()), 401)
  assert.equal(await upgradeStatus(ws("ayc1_nobody_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")), 401)
  assert.equal(await upgradeStatus(ws(env.AYNI_REVOKED_TOKEN)), 401)
  assert.equal(await upgradeStatus(ws(env.AYNI_EXPIRED_TOKEN)), 401)
  assert.equal(await upgradeStatus(ws(env.AYNI_FIELD_TOKEN)), 101)
})
