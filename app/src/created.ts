// Records made on this device: created as automerge-repo documents
// (`repo.create()`), their first change writing the record's envelope
// (FORMATS.md) so the node judges and keeps them like any other; listed
// here until the node's index lists them (a record made offline is not in
// the index the node keeps), and kept loaded so they sync as soon as the
// node is reachable.

import type { DocHandle } from "@automerge/automerge-repo/slim"
import { entryId, now, type App, type Listed } from "./app"
import { str, type Doc } from "./sync"

const CREATED = "ayni.created" // kind → key → Listed

function read(): Record<string, Record<string, Listed>> {
  try {
    return JSON.parse(localStorage.getItem(CREATED) ?? "{}") ?? {}
  } catch {
    return {}
  }
}

/** The records of `kind` made on this device that the node's index does not list yet. */
export function madeHere(app: App, kind: string): [string, Listed][] {
  const all = read()
  const indexed = app.index?.doc()?.records?.[kind] ?? {}
  const mine = all[kind] ?? {}
  let changed = false
  for (const key of Object.keys(mine)) {
    if (indexed[key] !== undefined) {
      delete mine[key]
      changed = true
    }
  }
  if (changed) localStorage.setItem(CREATED, JSON.stringify(all))
  return Object.entries(mine)
}

/** Every record made here and not yet listed by the node, as URLs (to keep loaded). */
export function madeHereUrls(): string[] {
  return Object.values(read()).flatMap((byKey) => Object.values(byKey).map((r) => r.url))
}

/** A value as the node writes it: strings as automerge scalar strings, at any depth. */
export function asStored(v: unknown): unknown {
  if (typeof v === "string") return str(v)
  if (Array.isArray(v)) return v.map(asStored)
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asStored(x)]))
  return v
}

/**
 * Creates a record of `kind` with `data` on this device: its key is its
 * document ID (16 random bytes: two devices never pick the same), written
 * by this client (`created_by` as the node attributes it). It is here at
 * once and reaches the node with the next sync.
 */
export function createRecord(app: App, kind: string, data: Doc, listing: { title: string; event?: string }): DocHandle<Doc> {
  const handle = app.sync.repo.create<Doc>()
  const id = handle.documentId
  app.sync.edit(handle, (d) => {
    d.ayni = 1
    d.kind = str(kind)
    d.key = str(id)
    d.id = str(id)
    d.created_at = str(now())
    d.created_by = str(app.session.author ?? `client ${app.session.client} via ${app.session.node.id}`)
    d.live = str(entryId())
    d.transitions = {}
    d.data = asStored(data)
  })
  const all = read()
  all[kind] ??= {}
  all[kind][id] = { url: handle.url, title: listing.title, status: kind === "edan" ? "draft" : kind === "event" ? "active" : undefined, event: listing.event }
  localStorage.setItem(CREATED, JSON.stringify(all))
  return handle
}
