// The device's copy of the records and its link with the node: an
// automerge-repo `Repo` with IndexedDB storage (documents survive reloads
// and work offline) and the node's WebSocket (`/automerge`, the token in
// the query, as browsers cannot set headers on a WebSocket). Tracks what
// people need to see: whether the node is reachable, when it was last
// heard from, which of this device's changes it has not confirmed, and
// which it refused (the node's `error` messages: such a change, and any
// made on top of it, stays on the device only).

import { Repo, cbor, decodeHeads, type AutomergeUrl, type DocHandle, type PeerId } from "@automerge/automerge-repo/slim"
import { Automerge } from "@automerge/automerge-repo/slim"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import type { Session } from "./session"

export type Doc = Record<string, any>

const EDITED = "ayni.sync.edited" // document ID → heads before this device's first unconfirmed change
const NODE_HEADS = "ayni.sync.node." // + document ID → the node's heads, as last heard
const CONTACT = "ayni.sync.contact" // ms since the epoch of the node's last message
const REFUSED = "ayni.sync.refused" // the node's refusals: [{doc, change, reason, at}], the latest 50

/** A change the node refused, and why (its `error` message). */
export interface Refusal {
  doc: string
  change: string
  reason: string
  at: number
}

/** The WebSocket adapter, also passing on the node's `error` messages (the official one only logs them). */
class NodeSocket extends WebSocketClientAdapter {
  onNodeError: (message: string) => void = () => {}

  receiveMessage(bytes: Uint8Array) {
    try {
      const m = cbor.decode(new Uint8Array(bytes)) as { type?: string; message?: unknown }
      if (m?.type === "error" && typeof m.message === "string") this.onNodeError(m.message)
    } catch {
      // the adapter says what it cannot decode
    }
    super.receiveMessage(bytes)
  }
}

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
    const socket = new NodeSocket(url, 3000)
    socket.onNodeError = (message) => this.refused(message)
    this.repo = new Repo({ storage: new IndexedDBStorageAdapter("ayni"), network: [socket] })
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

  private refused(message: string) {
    const m = /^document (\S+): change ([0-9a-f]+) refused: (.*)$/s.exec(message)
    const all = this.refusals()
    if (m && all.some((r) => r.change === m[2])) return
    all.push({ doc: m?.[1] ?? "", change: m?.[2] ?? "", reason: m?.[3] ?? message, at: Date.now() })
    localStorage.setItem(REFUSED, JSON.stringify(all.slice(-50)))
    this.emitChange()
  }

  /** The changes the node refused (they stay on this device only), oldest first. */
  refusals(): Refusal[] {
    return readJson<Refusal[]>(REFUSED, [])
  }

  /** When the node was last heard from (ms since the epoch), if ever. */
  lastContact(): number | null {
    const v = Number(localStorage.getItem(CONTACT))
    return v > 0 ? v : null
  }

  /** A record's handle, from the device or the node; `null` when neither has it. */
  async find(url: string, patience?: number): Promise<DocHandle<Doc> | null> {
    // with no node to ask, a record the device lacks would be waited for
    // until the node comes back: say so after a moment instead (long
    // enough for an old phone to load a big one from IndexedDB); screens
    // that look through many records wait less (`patience`, ms)
    const wait = patience ?? (this.online ? 30000 : 5000)
    const giveUp = new Promise<null>((resolve) => setTimeout(() => resolve(null), wait))
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
    handle.on("change", () => this.dispatchEvent(new CustomEvent("doc", { detail: handle.documentId })))
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

/** A string as the node writes them (an automerge scalar string). */
export const str = (s: string) => new Automerge.ImmutableString(s)

/** Whether this device holds changes it made that the node has not confirmed (as last known). */
export function unsent(): boolean {
  return Object.keys(readJson<Record<string, string[]>>(EDITED, {})).length > 0
}
