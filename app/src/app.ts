// What every screen gets: the session, the device's copy of the records,
// the index document (every record this client may read: kind → key →
// {url, title, status}), and a way to tell people what happened.

import type { DocHandle } from "@automerge/automerge-repo/slim"
import { concurrent, plain, type Doc, type Sync } from "./sync"
import type { Session } from "./session"

export interface Listed {
  url: string
  title: string
  status?: string
  /** The URL of the emergency event it belongs to (EDANs, emergency missions). */
  event?: string
}

export interface App {
  session: Session
  sync: Sync
  index: DocHandle<Doc> | null
  /** Where screens draw. */
  main: HTMLElement
  /** A short message in the live region (screen readers announce it). */
  say(message: string): void
  /** Draws the current screen again (after a change). */
  redraw(): void
}

/** The records of `kind` the index lists, by key, sorted by title. */
export function listed(app: App, kind: string): [string, Listed][] {
  const records = app.index?.doc()?.records?.[kind]
  if (!records) return []
  const entries = Object.entries(plain<Record<string, Listed>>(records))
  return entries.sort((a, b) => (a[1].title ?? a[0]).localeCompare(b[1].title ?? b[0]))
}

/** The URL of the record `kind:key`, from the index. */
export function urlOf(app: App, kind: string, key: string): string | null {
  const r = app.index?.doc()?.records?.[kind]?.[key]
  return r ? String(r.url) : null
}

/** A record's lifecycle state, as the index lists it. */
export function statusIn(app: App, kind: string, key: string): string {
  return String(app.index?.doc()?.records?.[kind]?.[key]?.status ?? "")
}

/** Every field of `value` (a document's map) with concurrent values: path and values. */
export function conflictsIn(value: unknown, path: string[] = []): { path: string[]; values: unknown[] }[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return []
  const out: { path: string[]; values: unknown[] }[] = []
  for (const key of Object.keys(value)) {
    const values = concurrent(value, key)
    if (values && !values.every((v) => v && typeof v === "object")) out.push({ path: [...path, key], values })
    out.push(...conflictsIn((value as Doc)[key], [...path, key]))
  }
  return out
}

/**
 * The map under `obj[key]` as the node reads it: maps created concurrently
 * under one key (two teams' first tally for a zone) are merged, not one of
 * them shown.
 */
export function merged(obj: Doc | undefined, key: string): Doc {
  if (!obj || obj[key] === undefined) return {}
  const all = concurrent(obj, key)
  if (!all) return plain(obj[key]) ?? {}
  return Object.assign({}, ...all.filter((v) => v && typeof v === "object").reverse())
}

/** A new entry ID for a set-like collection: time first, so entries sort by when they were made. */
export function entryId(): string {
  const time = Date.now().toString(36).padStart(9, "0")
  const random = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(36).padStart(2, "0")).join("")
  return `${time}${random}`
}

/** Now, as the schemas' `date-time`. */
export const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z")
