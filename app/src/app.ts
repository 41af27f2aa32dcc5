// What every screen gets: the session, the device's copy of the records,
// the index document (every record this client may read: kind → key →
// {url, title, status}), and a way to tell people what happened.

import type { DocHandle } from "@automerge/automerge-repo/slim"
import { Automerge } from "@automerge/automerge-repo/slim"
import { plain, type Doc, type Sync } from "./sync"
import type { Session } from "./session"
import { h } from "./dom"
import { t } from "./i18n"
import { madeHere } from "./created"

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
  redraw(): Promise<void>
  /** Says the screen shows this record: its changes redraw the screen (soon, unless a form is open). */
  shows(handle: DocHandle<Doc>): void
  /** The photo queue: `now()` tries to send what waits at once. */
  uploads: { now(): void }
}

/** The records of `kind` the index lists (and those made on this device it does not list yet), by key, sorted by title. */
export function listed(app: App, kind: string): [string, Listed][] {
  const records = app.index?.doc()?.records?.[kind]
  const entries = [...Object.entries(records ? plain<Record<string, Listed>>(records) : {}), ...madeHere(app, kind)]
  return entries.sort((a, b) => (a[1].title ?? a[0]).localeCompare(b[1].title ?? b[0]))
}

/** The record `kind:key` as listed (by the index, or as made on this device). */
function entry(app: App, kind: string, key: string): Listed | undefined {
  const r = app.index?.doc()?.records?.[kind]?.[key]
  return r ? plain<Listed>(r) : madeHere(app, kind).find(([k]) => k === key)?.[1]
}

/** The URL of the record `kind:key`. */
export function urlOf(app: App, kind: string, key: string): string | null {
  return entry(app, kind, key)?.url ?? null
}

/** A record's lifecycle state, as listed. */
export function statusIn(app: App, kind: string, key: string): string {
  return entry(app, kind, key)?.status ?? ""
}

/** A map of the document (a live one, or one read out of it): not a scalar, string, list or bytes. */
function isMap(v: unknown): v is Doc {
  return !!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Automerge.ImmutableString) && !(v instanceof Uint8Array) && !(v instanceof Date)
}

/** Every value written concurrently under `obj[key]` (one, when there was no concurrency). */
function allValues(obj: Doc, key: string): unknown[] {
  try {
    const all = Automerge.getConflicts(obj, key)
    if (all) return Object.values(all)
  } catch {
    // a plain object, already read out of the document
  }
  return obj[key] === undefined ? [] : [obj[key]]
}

function deepMerge(a: Doc, b: Doc): Doc {
  const out: Doc = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = isMap(out[k]) && isMap(v) ? deepMerge(out[k], v) : (out[k] ?? v)
  return out
}

/**
 * The map under `obj[key]` as the node reads it (`model/src/record.rs`):
 * maps created concurrently under one key — two teams', or one team's two
 * devices', first tally for a zone — are merged at every depth, not one of
 * them shown.
 */
export function merged(obj: Doc | undefined, key: string): Doc {
  if (!obj) return {}
  const maps = allValues(obj, key).filter(isMap)
  let out: Doc = {}
  for (const m of maps) {
    const read: Doc = {}
    for (const k of Object.keys(m)) {
      const values = allValues(m, k)
      read[k] = values.some(isMap) ? merged(m, k) : plain(m[k])
    }
    out = deepMerge(out, read)
  }
  return out
}

/**
 * Every field with concurrent values under `value`, at any depth and across
 * maps created concurrently under one key: path and the distinct values.
 */
export function conflictsIn(value: unknown): { path: string[]; values: unknown[] }[] {
  const out: { path: string[]; values: unknown[] }[] = []
  const walk = (maps: Doc[], path: string[]) => {
    for (const k of new Set(maps.flatMap((m) => Object.keys(m)))) {
      const values = maps.filter((m) => m[k] !== undefined).flatMap((m) => allValues(m, k))
      const scalars = [...new Set(values.filter((v) => !isMap(v)).map((v) => JSON.stringify(plain(v))))]
      if (scalars.length > 1) out.push({ path: [...path, k], values: scalars.map((v) => JSON.parse(v)) })
      const sub = values.filter(isMap)
      if (sub.length) walk(sub, [...path, k])
    }
  }
  if (isMap(value)) walk([value], [])
  return out
}

/** A new entry ID for a set-like collection: time first, so entries sort by when they were made. */
export function entryId(): string {
  const time = Date.now().toString(36).padStart(9, "0")
  const random = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(36).padStart(2, "0")).join("")
  return `${time}${random}`
}

/** Now, as the schemas' `date-time`. */
export const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z")

/** A button that opens a report the node renders (one HTML page) in a new
 * tab, asked for with the session's token; offline it says so. */
export function reportButton(app: App, path: string, text: string): HTMLElement {
  const status = h("span", { role: "status" })
  const open = async () => {
    // opened now, while the tap is a user gesture; filled once the page arrives
    const tab = window.open("", "_blank")
    try {
      const r = await fetch(path, { headers: { authorization: `Bearer ${app.session.token}` }, cache: "no-store" })
      if (!r.ok) throw new Error(String(r.status))
      const url = URL.createObjectURL(new Blob([await r.text()], { type: "text/html" }))
      if (tab) tab.location.href = url
      else location.href = url
      status.textContent = ""
    } catch {
      tab?.close()
      status.textContent = t("report_offline")
    }
  }
  return h("p", {}, h("button", { type: "button", onclick: open }, text), " ", status)
}
