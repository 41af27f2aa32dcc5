// The device's copy of the records and its link with the node: an
// automerge-repo `Repo` with IndexedDB storage (documents survive reloads
// and work offline) and the node's WebSocket (`/automerge`, the token in
// the query, as browsers cannot set headers on a WebSocket). Tracks what
// people need to see: whether the node is reachable, when it was last
// heard from, and which of this device's changes it has not confirmed.

import { Repo, decodeHeads, type AutomergeUrl, type DocHandle, type PeerId } from "@automerge/automerge-repo/slim"
import { Automerge } from "@automerge/automerge-repo/slim"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import type { Session } from "./session"

export type Doc = Record<string, any>

const EDITED = "ayni.sync.edited" // document ID → heads before this device's first unconfirmed change
const NODE_HEADS = "ayni.sync.node." // + document ID → the node's heads, as last heard
const CONTACT = "ayni.sync.contact" // ms since the epoch of the node's last message

function readJson<T>(key: string, fallback: T): T {
  try {
    return JSON.parse(localStorage.getItem(key) ?? "null") ?? fallback
  } catch {
    return fallback
  }
}

export class Sync extends EventTarget {
  readonly repo: Repo
  online = false
  private nodePeer: PeerId | null = null

  constructor(session: Session) {
    super()
    const scheme = location.protocol === "https:" ? "wss" : "ws"
    const url = `${scheme}://${location.host}/automerge?token=${encodeURIComponent(session.token)}`
    this.repo = new Repo({
      storage: new IndexedDBStorageAdapter("ayni"),
      network: [new WebSocketClientAdapter(url, 3000)],
    })
    const net = this.repo.networkSubsystem
    net.on("peer", ({ peerId }) => {
      this.nodePeer = peerId
      this.online = true
      this.lastEmitted = 0
      this.contact()
    })
    net.on("peer-disconnected", () => {
      this.online = false
      this.emitChange()
    })
    net.on("message", (m) => {
      if (m.senderId === this.nodePeer) this.contact()
    })
  }

  private lastEmitted = 0

  /** The node was heard from: noted (and screens told) at most once a second, as a first sync brings thousands of messages. */
  private contact() {
    const now = Date.now()
    if (now - this.lastEmitted < 1000) return
    this.lastEmitted = now
    localStorage.setItem(CONTACT, String(now))
    this.emitChange()
  }

  private changeSoon: ReturnType<typeof setTimeout> | null = null

  /** Tells screens the sync state moved: once for a burst (a first sync moves it per document). */
  private emitChange() {
    if (this.changeSoon) return
    this.changeSoon = setTimeout(() => {
      this.changeSoon = null
      this.dispatchEvent(new Event("change"))
    }, 250)
  }

  /** When the node was last heard from (ms since the epoch), if ever. */
  lastContact(): number | null {
    const v = Number(localStorage.getItem(CONTACT))
    return v > 0 ? v : null
  }

  /** A record's handle, from the device or the node; `null` when neither has it. */
  async find(url: string): Promise<DocHandle<Doc> | null> {
    // with no node to ask, a record the device lacks would be waited for
    // until the node comes back: say so after a moment instead
    const giveUp = new Promise<null>((resolve) => setTimeout(() => resolve(null), this.online ? 30000 : 1500))
    try {
      const handle = await Promise.race([this.repo.find<Doc>(url as AutomergeUrl), giveUp])
      if (handle) this.follow(handle)
      return handle
    } catch {
      return null
    }
  }

  /**
   * Brings `urls` onto the device (a few at a time), so that they open and
   * can be searched with no network. Returns when all are here or the node
   * is gone.
   */
  async keepOnDevice(urls: string[]) {
    const queue = [...urls]
    const worker = async () => {
      for (let url = queue.shift(); url && this.online; url = queue.shift()) await this.find(url)
    }
    await Promise.all([worker(), worker(), worker(), worker()])
  }

  private followed = new Set<string>()

  private follow(handle: DocHandle<Doc>) {
    if (this.followed.has(handle.documentId)) return
    this.followed.add(handle.documentId)
    handle.on("remote-heads", ({ storageId, heads }) => {
      if (this.nodePeer && this.repo.peerMetadataByPeerId[this.nodePeer]?.storageId === storageId) {
        localStorage.setItem(NODE_HEADS + handle.documentId, JSON.stringify(heads))
        this.emitChange()
      }
    })
  }

  /** Changes a record on this device; it reaches the node when it can. */
  edit(handle: DocHandle<Doc>, fn: (d: Doc) => void) {
    const edited = readJson<Record<string, string[]>>(EDITED, {})
    if (!edited[handle.documentId]) {
      edited[handle.documentId] = Automerge.getHeads(handle.doc())
      localStorage.setItem(EDITED, JSON.stringify(edited))
    }
    handle.change(fn)
    this.emitChange()
  }

  /** How many of this device's changes the node has not confirmed, per record (IDs with none left out). */
  async pending(): Promise<Map<string, number>> {
    const edited = readJson<Record<string, string[]>>(EDITED, {})
    const out = new Map<string, number>()
    for (const [id, base] of Object.entries(edited)) {
      const handle = await this.find(`automerge:${id}`)
      if (!handle) continue
      const doc = handle.doc()
      const nodeHeads = readJson<string[] | null>(NODE_HEADS + id, null)
      const confirmed = nodeHeads ? decodeHeads(nodeHeads as never) : null
      const since = confirmed && Automerge.hasHeads(doc, confirmed) ? confirmed : base
      const n = Automerge.getChangesMetaSince(doc, since).length
      if (n > 0) out.set(id, n)
      else delete edited[id]
    }
    localStorage.setItem(EDITED, JSON.stringify(edited))
    return out
  }
}

/** A document's value as plain JSON: strings from automerge's scalar strings, numbers from BigInts. */
export function plain<T = any>(v: unknown): T {
  return JSON.parse(
    JSON.stringify(v, (_k, x) => (x instanceof Automerge.ImmutableString ? x.toString() : typeof x === "bigint" ? Number(x) : x)),
  )
}

/** The concurrent values of `obj[key]`, when there are several. */
export function concurrent(obj: unknown, key: string): unknown[] | null {
  if (!obj || typeof obj !== "object") return null
  let all: Record<string, unknown> | undefined
  try {
    all = Automerge.getConflicts(obj as Doc, key)
  } catch {
    return null // a plain object (already read out of the document)
  }
  if (!all) return null
  const values = Object.values(all)
  return values.length > 1 ? values.map((v) => plain(v)) : null
}

/** A string as the node writes them (an automerge scalar string). */
export const str = (s: string) => new Automerge.ImmutableString(s)
