// automerge-repo clients against an Ayni node and against the reference
// JavaScript sync server (automerge-repo's Repo with its WebSocket server
// adapter and a storage adapter holding the same documents). Driven by
// benches/clients.rs; every client run is a fresh process, so neither
// server is measured with a client the other one warmed up. One mode per
// run, one JSON object printed:
//   node bench.mjs first URL URLS_FILE DOCS_OUT      a first sync of every URL; saves the documents
//   node bench.mjs serve DOCS_FILE                   the reference server; prints {port}, runs until killed
//   node bench.mjs reconnect URL DOCS_FILE EXPECT    a client holding every document reconnects
//   node bench.mjs watch URL URLS_FILE               a client holding the URLs open while field nodes
//                                                    write (benches/hq_load.rs): prints {ready} once they
//                                                    are in, then, when stdin closes, when it first saw each
//                                                    LOAD team's tally value (epoch ms)
import fs from "node:fs"
import { performance } from "node:perf_hooks"
import * as A from "@automerge/automerge"
import { Repo, generateAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter, WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { WebSocketServer } from "ws"

const [mode, ...args] = process.argv.slice(2)

/** Documents saved as lines of `{id, b64}`. */
const readDocs = (file) =>
  fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .map(({ id, b64 }) => [id, new Uint8Array(Buffer.from(b64, "base64"))])

/**
 * A repo connected to `url` (holding `docs` first, if given), counting what
 * it receives; `pid`'s CPU time is read once the documents are in, just
 * before connecting.
 */
async function client(url, docs, pid) {
  const adapter = new WebSocketClientAdapter(url, 60_000)
  const repo = new Repo({ network: [] })
  for (const [id, binary] of docs ?? []) repo.import(binary, { docId: id })
  const stats = { bytes: 0, messages: 0, sent: 0, cpu: pid ? cpuMs(pid) : 0, connected: performance.now() }
  const send = adapter.send.bind(adapter)
  adapter.send = (m) => {
    stats.sent += 1
    return send(m)
  }
  const peer = new Promise((resolve) => repo.networkSubsystem.once("peer", resolve))
  repo.networkSubsystem.addNetworkAdapter(adapter)
  await peer
  adapter.socket.on("message", (data) => {
    stats.last = data.byteLength ?? data.length
    stats.bytes += stats.last
    stats.messages += 1
  })
  return { repo, stats }
}

async function first(url, urlsFile, out) {
  const urls = fs.readFileSync(urlsFile, "utf8").trim().split("\n")
  const { repo, stats } = await client(url)
  // 200 documents asked for at a time (automerge-repo gives a document up
  // as unavailable after 60 s unanswered)
  const t = performance.now()
  const handles = []
  for (let i = 0; i < urls.length; i += 200) {
    handles.push(...(await Promise.all(urls.slice(i, i + 200).map((u) => repo.find(u)))))
  }
  const ms = performance.now() - t
  if (out) {
    const lines = handles.map((h) => JSON.stringify({ id: h.documentId, b64: Buffer.from(A.save(h.doc())).toString("base64") }))
    fs.writeFileSync(out, lines.join("\n"))
  }
  await repo.shutdown()
  const mem = process.memoryUsage()
  return { records: urls.length, ms, bytes: stats.bytes, messages: stats.messages, sent: stats.sent, heap_mib: mem.heapUsed / 2 ** 20, rss_mib: mem.rss / 2 ** 20, buffers_mib: mem.arrayBuffers / 2 ** 20 }
}

/** A storage adapter in memory (automerge-repo's interface): the server's documents, loaded on request. */
class MemoryStorage {
  #data = new Map()
  #key = (k) => k.join("\u0000")
  async load(key) {
    return this.#data.get(this.#key(key))
  }
  async save(key, data) {
    this.#data.set(this.#key(key), data)
  }
  async remove(key) {
    this.#data.delete(this.#key(key))
  }
  async loadRange(prefix) {
    const p = this.#key(prefix)
    return [...this.#data.entries()].filter(([k]) => k === p || k.startsWith(p + "\u0000")).map(([k, data]) => ({ key: k.split("\u0000"), data }))
  }
  async removeRange(prefix) {
    for (const { key } of await this.loadRange(prefix)) this.#data.delete(this.#key(key))
  }
}

async function serve(docsFile) {
  const storage = new MemoryStorage()
  for (const [id, binary] of readDocs(docsFile)) await storage.save([id, "snapshot", "bench"], binary)
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", maxPayload: 64 * 1024 * 1024 })
  await new Promise((resolve) => wss.on("listening", resolve))
  new Repo({ network: [new WebSocketServerAdapter(wss)], storage, sharePolicy: async () => false })
  return { port: wss.address().port }
}

/** CPU time (ms) process `pid` has used so far. */
function cpuMs(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

/** Reconnects holding every document up to date; waits 1.5 s after the last message. */
async function reconnect(url, docsFile, expectReplies, pid) {
  const docs = readDocs(docsFile)
  const { repo, stats } = await client(url, docs, pid)
  const t = stats.connected
  let last = performance.now()
  let seen = 0
  // a server that answers nothing has handled every document once it
  // answers a request sent after them all (one connection's messages are
  // handled in order): the time to that answer is its time
  let handled = null
  if (!expectReplies) {
    while (stats.sent < docs.length) await new Promise((resolve) => setTimeout(resolve, 5))
    repo.find(generateAutomergeUrl()).catch(() => {
      handled = performance.now() - t
    })
  }
  await new Promise((resolve) => {
    const check = setInterval(() => {
      const quiet = performance.now() - last > 1500 && handled !== null
      // a server that answers every document, but not all within 10 minutes, is reported as it stands
      const late = performance.now() - t > 600_000
      if ((expectReplies && (stats.messages >= docs.length || late)) || (!expectReplies && quiet)) {
        clearInterval(check)
        resolve()
      }
      last = seen === stats.messages ? last : performance.now()
      seen = stats.messages
    }, 50)
  })
  // for a server that answers every document, the time to its last answer;
  // for one that answers nothing, to its answer to the request sent after
  // them (that answer is not counted in its bytes and messages)
  const result = {
    ms: expectReplies ? performance.now() - t : handled,
    bytes: stats.bytes - (expectReplies ? 0 : stats.last ?? 0),
    messages: stats.messages - (expectReplies ? 0 : 1),
  }
  if (pid) result.server_cpu_ms = cpuMs(pid) - stats.cpu
  await repo.shutdown()
  return result
}

/** Holds `urls` open; notes when each load team's `persons_affected` value first shows (zone z1). */
async function watch(url, urlsFile) {
  const urls = fs.readFileSync(urlsFile, "utf8").trim().split("\n")
  const { repo, stats } = await client(url)
  const seen = {}
  const note = (doc) => {
    for (const [team, tally] of Object.entries(doc?.data?.tallies?.z1 ?? {})) {
      const key = `${team}=${tally?.persons_affected}`
      if (team.startsWith("LOAD-") && !(key in seen)) seen[key] = Date.now()
    }
  }
  const handles = await Promise.all(urls.map((u) => repo.find(u)))
  for (const h of handles) {
    note(h.doc())
    h.on("change", ({ doc }) => note(doc))
  }
  console.log(JSON.stringify({ ready: handles.length }))
  await new Promise((resolve) => {
    process.stdin.on("end", resolve)
    process.stdin.resume()
  })
  const result = { seen, messages: stats.messages, bytes: stats.bytes }
  await repo.shutdown()
  return result
}

let result
if (mode === "watch") result = await watch(args[0], args[1])
else if (mode === "first") result = await first(args[0], args[1], args[2])
else if (mode === "serve") result = await serve(args[0])
else if (mode === "reconnect") result = await reconnect(args[0], args[1], args[2] === "1", args[3])
else throw new Error(`unknown mode ${mode}`)
console.log(JSON.stringify(result))
if (mode !== "serve") process.exit(0)
