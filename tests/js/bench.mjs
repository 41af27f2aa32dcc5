// automerge-repo clients against an Ayni node and against the reference
// JavaScript sync server (automerge-repo's Repo with its WebSocket server
// adapter) holding the same documents, in the same run. Driven by
// benches/clients.rs, which starts the node and passes, in environment
// variables, its address, a token, a file of record URLs and its PID.
// Prints one JSON object.
import fs from "node:fs"
import { performance } from "node:perf_hooks"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter, WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { WebSocketServer } from "ws"

const env = process.env
const urls = fs.readFileSync(env.AYNI_URLS, "utf8").trim().split("\n")
const ayni = `ws://${env.AYNI_HTTP}/automerge?token=${env.AYNI_TOKEN}`

/** CPU time (ms) the node's process has used so far. */
function nodeCpuMs() {
  const fields = fs.readFileSync(`/proc/${env.AYNI_PID}/stat`, "utf8").split(") ")[1].split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

/** A repo connected to `url` (holding `docs` first, if given), counting the bytes it receives. */
async function client(url, docs) {
  const adapter = new WebSocketClientAdapter(url, 60_000)
  const repo = new Repo({ network: [] })
  for (const [id, binary] of docs ?? []) repo.import(binary, { docId: id })
  const stats = { bytes: 0, messages: 0, connected: performance.now() }
  const peer = new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  repo.networkSubsystem.addNetworkAdapter(adapter)
  await peer
  adapter.socket.on("message", (data) => {
    stats.bytes += data.byteLength ?? data.length
    stats.messages += 1
  })
  return { repo, stats }
}

async function firstSync(url) {
  const { repo, stats } = await client(url)
    // 200 documents asked for at a time (automerge-repo gives a document up
  // as unavailable after 60 s unanswered)
  const t = performance.now()
  const handles = []
  for (let i = 0; i < urls.length; i += 200) {
    handles.push(...(await Promise.all(urls.slice(i, i + 200).map((u) => repo.find(u)))))
  }
  const ms = performance.now() - t
  const docs = handles.map((h) => [h.documentId, A.save(h.doc())])
  await repo.shutdown()
  return { ms, bytes: stats.bytes, docs }
}

/** Reconnects holding every document up to date; waits `quietMs` after the last message. */
async function reconnect(url, docs, expectReplies) {
    const cpu = env.AYNI_PID && url === ayni ? nodeCpuMs() : 0
  const { repo, stats } = await client(url, docs)
  const t = stats.connected
  let last = performance.now()
  await new Promise((resolve) => {
    const check = setInterval(() => {
      const quiet = performance.now() - last > 1500
      if ((expectReplies && stats.messages >= docs.length) || (!expectReplies && quiet)) {
        clearInterval(check)
        resolve()
      }
      last = stats.messagesSeen === stats.messages ? last : performance.now()
      stats.messagesSeen = stats.messages
    }, 50)
  })
    // for a server that answers every document, the time to its last answer;
  // for one that answers nothing, the wait for silence is not its time
  const ms = expectReplies ? performance.now() - t : null
  const result = { ms, bytes: stats.bytes, messages: stats.messages }
  if (cpu) result.node_cpu_ms = nodeCpuMs() - cpu
  await repo.shutdown()
  return result
}

const out = { records: urls.length }
const fromAyni = await firstSync(ayni)
out.ayni_first_sync = { ms: fromAyni.ms, bytes: fromAyni.bytes }

// the reference server, holding the same documents
const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" })
await new Promise((resolve) => wss.on("listening", resolve))
const server = new Repo({ network: [new WebSocketServerAdapter(wss)], sharePolicy: async () => false })
for (const [id, binary] of fromAyni.docs) server.import(binary, { docId: id })
const reference = `ws://127.0.0.1:${wss.address().port}`
const fromReference = await firstSync(reference)
out.reference_first_sync = { ms: fromReference.ms, bytes: fromReference.bytes }

out.ayni_reconnect = await reconnect(ayni, fromAyni.docs, false)
out.reference_reconnect = await reconnect(reference, fromAyni.docs, true)
console.log(JSON.stringify(out))
await server.shutdown()
wss.close()
process.exit(0)
