// Ten official clients at once, each editing its own record, while the
// node syncs with a peer over a degraded link; one client goes offline,
// edits, and comes back. Started by tests/automerge_repo.rs, which passes
// the node's address, the records and the tokens in environment variables
// and checks the peer afterwards; run alone it skips.
import { test } from "node:test"
import assert from "node:assert/strict"
import { getHeads } from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const env = process.env
const skip = !env.AYNI_HTTP && "run by tests/automerge_repo.rs (needs a serving node)"

async function connect(token) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(`ws://${env.AYNI_HTTP}/automerge?token=${token}`, 500)] })
  await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  return repo
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function record(key) {
  const r = await fetch(`http://${env.AYNI_HTTP}/api/v1/records/edan/${key}`, {
    headers: { authorization: `Bearer ${env.AYNI_HQ_TOKEN}` },
  })
  return r.json()
}

const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())

test("ten clients and a peer over a degraded link converge; a client that was offline catches up", { skip, timeout: 180000 }, async () => {
  const records = JSON.parse(env.AYNI_RECORDS) // [{ key, url, token }]
  const repos = await Promise.all(records.map((r) => connect(r.token)))
  try {
    const handles = await Promise.all(repos.map((repo, i) => repo.find(records[i].url)))
    for (let round = 1; round <= 5; round++) {
      handles.forEach((h, i) =>
        h.change((d) => {
          d.data.tallies.z1["GAEM-1"].injured = 100 * i + round
        }),
      )
      await sleep(200)
    }
    // the last client goes offline, edits, and comes back
    const last = records.length - 1
    repos[last].networkSubsystem.disconnect()
    handles[last].change((d) => {
      d.data.tallies.z1["GAEM-1"].missing = 7
    })
    await sleep(1500)
    repos[last].networkSubsystem.reconnect()

    // every client ends with the node's copy of its record, which holds
    // the client's edits and the peer's (made on the other node, arriving
    // over the degraded link)
    const end = Date.now() + 150000
    for (;;) {
      let done = true
      for (const [i, h] of handles.entries()) {
        const doc = h.doc()
        const stored = await record(records[i].key)
        const peerEdit = doc.data.tallies.z2["GAEM-1"].dead === 3
        if (!peerEdit || !same(stored.heads, getHeads(doc)) || stored.fields.tallies.z1["GAEM-1"].injured !== 100 * i + 5) {
          done = false
          break
        }
      }
      if (done) break
      assert.ok(Date.now() < end, "the clients, the node and its peer never converged")
      await sleep(250)
    }
    assert.equal(handles[last].doc().data.tallies.z1["GAEM-1"].missing, 7)
    const heads = Object.fromEntries(handles.map((h, i) => [records[i].key, getHeads(h.doc())]))
    console.log(`HEADS ${JSON.stringify(heads)}`)
  } finally {
    await Promise.all(repos.map((r) => r.shutdown()))
  }
})
