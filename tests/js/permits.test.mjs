// A field tablet's client, written the way automerge-repo's docs show,
// trying what its role does not permit: deleting records, wiping or
// replacing another team's counts, writing HQ's fields and amendments,
// and validating an EDAN by rewriting its transition log. Started by
// tests/permits.rs, which passes the node's address, tokens and record
// URLs in environment variables (and checks the node's audit after); run
// alone it skips.
import { test } from "node:test"
import assert from "node:assert/strict"
import { ImmutableString } from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/permits.rs (needs a serving node)"
const urls = JSON.parse(env.AYNI_URLS ?? "{}")
const text = (s) => new ImmutableString(s)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function connect(token) {
  const ws = `ws://${env.AYNI_HTTP}/automerge?token=${token}`
  const repo = new Repo({ network: [new WebSocketClientAdapter(ws, 500)] })
  await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  return repo
}

async function api(method, path, token) {
  const r = await fetch(`http://${env.AYNI_HTTP}${path}`, { method, headers: { authorization: `Bearer ${token}` } })
  return { status: r.status, json: await r.json() }
}

/** One attempt, on a device that has made no other change (a refused change
 * stays on the device, and so would everything built on it). */
async function attempt(url, change) {
  const repo = await connect(env.AYNI_FIELD_TOKEN)
  try {
    const handle = await repo.find(url)
    change(handle)
    await sleep(1200)
  } finally {
    await repo.shutdown()
  }
}

const remove = (h) =>
  h.change((d) => {
    delete d.live
    d.tombstone = { at: text("2026-12-06T10:00:00Z"), by: text("tableta") }
  })

test("what a field client may not do is refused by the node; what it may do goes through", { skip }, async () => {
  const me = (await api("GET", "/api/v1/me", env.AYNI_FIELD_TOKEN)).json
  const by = `client ${me.client} via ${me.node.id}`

  await attempt(urls.team, remove)
  await attempt(urls.practice, remove)
  await attempt(urls.event, remove)
  await attempt(urls.edan, (h) => h.change((d) => delete d.data.tallies.z2))
  await attempt(urls.edan, (h) => h.change((d) => (d.data.tallies = { z1: { "GAEM-1": { dead: 0 } } })))
  await attempt(urls.edan, (h) =>
    h.change((d) => {
      d.data.amendments ??= {}
      d.data.amendments["0123abcd"] = { by: text("x"), status: text("accepted"), proposed: {} }
    }),
  )
  await attempt(urls.edan, (h) => h.change((d) => (d.data.accepted = { z2: { team: text("GAEM-1") } })))

  // submitted → consolidated → draft is the team's to make; rewriting the
  // last entry into consolidated → validated is not anyone's
  await attempt(urls.edan, (h) => {
    const log = Object.values(h.doc().transitions)
    let seq = Math.max(...log.map((e) => Number(e.seq)))
    const move = (id, from, to) =>
      h.change((d) => {
        seq += 1
        d.transitions[id] = { from: text(from), to: text(to), seq, at: text(new Date().toISOString()), by: text(by) }
      })
    move("01TABLET00000000000000001", "submitted", "consolidated")
    move("01TABLET00000000000000002", "consolidated", "draft")
    h.change((d) => {
      d.transitions["01TABLET00000000000000002"].to = text("validated")
    })
  })

  const hq = (path) => api("GET", path, env.AYNI_HQ_TOKEN)
  for (const [kind, key] of [["team", "GAEM-2"], ["practice", "BP-MMS"], ["event", "ev-sama"]]) {
    const r = await hq(`/api/v1/records/${kind}/${key}`)
    assert.equal(r.status, 200, `${kind}:${key}`)
    assert.equal(r.json.deleted, false, `${kind}:${key} was deleted`)
  }
  const edan = (await hq("/api/v1/records/edan/edan-sama-1")).json
  assert.equal(edan.status, "draft")
  assert.ok(edan.fields.tallies.z2["GAEM-2"], "GAEM-2's counts are there")
  assert.equal(edan.fields.amendments, undefined)
  assert.equal(edan.fields.accepted, undefined)
})
