// Photos taken on the phone: reduced for bad links (about 1600 px, JPEG;
// or kept as taken), with the device's position and time at capture (the
// re-encoding drops EXIF), kept in IndexedDB under their SHA-256 (in the
// browser's persistent storage when it grants it), referenced from the
// record at once, and sent to the node (`PUT /api/v1/blobs/{sha256}`) by
// a queue that retries with backoff, survives closing the app and a reload
// offline, and sends each photo once: a photo the node took is marked sent
// and never sent again.

import type { App } from "./app"
import { now } from "./app"

/** A photo on the device. */
export interface Photo {
  hash: string
  blob: Blob
  mime: string
  size: number
  /** `pending` until the node has it; `refused` when it never will (too large, not a photo). */
  state: "pending" | "sent" | "refused"
  tries: number
  /** When to try again (ms since the epoch). */
  next: number
  error?: string
}

/** An attachment entry for a record (`common.schema.json#/$defs/attachment`). */
export type Attachment = Record<string, unknown> & { hash: string }

/** The longest side of a reduced photo. */
const REDUCED_PX = 1600
const SIZE = "ayni.photo_size"

export type SizeChoice = "reduced" | "original"
export const sizeChoice = (): SizeChoice => (localStorage.getItem(SIZE) === "original" ? "original" : "reduced")
export const setSizeChoice = (c: SizeChoice) => localStorage.setItem(SIZE, c)

let db: Promise<IDBDatabase> | null = null

function open(): Promise<IDBDatabase> {
  db ??= new Promise((resolve, reject) => {
    const r = indexedDB.open("ayni-photos", 1)
    r.onupgradeneeded = () => r.result.createObjectStore("photos", { keyPath: "hash" })
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
  return db
}

async function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const store = (await open()).transaction("photos", mode).objectStore("photos")
  return new Promise((resolve, reject) => {
    const r = f(store)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
}

/** The photo `hash`, if this device keeps it. */
export const photo = (hash: string) => tx<Photo | undefined>("readonly", (s) => s.get(hash))
const all = () => tx<Photo[]>("readonly", (s) => s.getAll())
const save = (p: Photo) => tx("readwrite", (s) => s.put(p))

/** How many photos wait to be sent. */
export async function pendingCount(): Promise<number> {
  return (await all()).filter((p) => p.state === "pending").length
}

/** Forgets every photo kept here (signing out). */
export async function forgetPhotos() {
  db = null
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase("ayni-photos")
    r.onsuccess = r.onerror = r.onblocked = resolve
  })
}

async function reduce(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" })
  const scale = Math.min(1, REDUCED_PX / Math.max(bitmap.width, bitmap.height))
  const canvas = document.createElement("canvas")
  canvas.width = Math.round(bitmap.width * scale)
  canvas.height = Math.round(bitmap.height * scale)
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
  bitmap.close()
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("no JPEG"))), "image/jpeg", 0.82))
}

function position(): Promise<GeolocationPosition | null> {
  if (!("geolocation" in navigator)) return Promise.resolve(null)
  return new Promise((resolve) =>
    navigator.geolocation.getCurrentPosition(resolve, () => resolve(null), { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }))
}

const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("")

/** What became of the files offered as photos. */
export interface Taken {
  /** The attachment entries of those kept on the device. */
  entries: Attachment[]
  /** Those not kept: not a picture the phone can read, or no room for it. */
  failed: { name: string; full: boolean }[]
}

/**
 * Takes `files` (from the camera or the gallery): each reduced (unless the
 * size choice says otherwise), kept on the device, and its attachment
 * entry returned — with `extra` (its zone) and the device's position and
 * time now. A file that is not a picture, or that finds the phone's
 * storage full, is kept nowhere and named in `failed`; the others are kept.
 */
export async function takePhotos(files: File[], author: string, extra: Record<string, unknown>): Promise<Taken> {
  // ask once to keep photos through storage pressure (the browser may say no)
  await navigator.storage?.persist?.().catch(() => false)
  const where = await position()
  const out: Taken = { entries: [], failed: [] }
  for (const file of files) {
    let blob: Blob
    try {
      // a picture the phone can read (a kept original is checked the same way)
      blob = sizeChoice() === "reduced" ? await reduce(file) : (await createImageBitmap(file).then((b) => b.close()), file)
    } catch {
      out.failed.push({ name: file.name, full: false })
      continue
    }
    const hash = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))
    const mime = blob.type || "application/octet-stream"
    if (!(await photo(hash))) {
      try {
        await save({ hash, blob, mime, size: blob.size, state: "pending", tries: 0, next: 0 })
      } catch (e) {
        out.failed.push({ name: file.name, full: (e as DOMException)?.name === "QuotaExceededError" })
        continue
      }
    }
    const entry: Attachment = { hash, mime, size: blob.size, name: file.name.slice(0, 255), captured_at: now(), author, ...extra }
    if (where) entry.geo = { lat: where.coords.latitude, lon: where.coords.longitude, accuracy_m: Math.round(where.coords.accuracy), captured_by: "gps" }
    out.entries.push(entry)
  }
  return out
}

/** What to tell people of the files not kept. */
export function failedMessage(failed: Taken["failed"], t: (k: string, v?: Record<string, string | number>) => string): string {
  if (!failed.length) return ""
  const full = failed.some((f) => f.full)
  return `${t(full ? "photo_storage_full" : "photo_not_picture", { names: failed.map((f) => f.name).join(", ") })}`
}

/** The wait before the next try after `tries` failed ones: 5 s, doubling, at most 10 minutes. */
const backoff = (tries: number) => Math.min(5000 * 2 ** tries, 600000)

/**
 * Sends the photos that wait, one at a time, until none is due; only one
 * sender runs per device (Web Locks), so no photo goes up twice at once.
 * Returns how many were sent.
 */
async function sendDue(token: string): Promise<number> {
  let sent = 0
  for (const p of await all()) {
    if (p.state !== "pending" || p.next > Date.now()) continue
    let r: Response
    try {
      r = await fetch(`/api/v1/blobs/${p.hash}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": p.mime }, body: p.blob })
    } catch {
      await save({ ...p, tries: p.tries + 1, next: Date.now() + backoff(p.tries) })
      break // no network: the others wait too
    }
    if (r.ok) {
      await save({ ...p, state: "sent", error: undefined })
      sent++
    } else if (r.status === 413 || r.status === 415 || r.status === 400) {
      const body = await r.json().catch(() => null)
      await save({ ...p, state: "refused", error: `${r.status}: ${body?.error?.message ?? r.statusText}` })
    } else {
      await save({ ...p, tries: p.tries + 1, next: Date.now() + backoff(p.tries) })
      if (r.status === 401) break
    }
  }
  return sent
}

/** Keeps sending photos: now, every few seconds, and at once when the node is back. */
export function startUploads(app: App, onSent: () => void) {
  let running = false
  const run = async (now = false) => {
    if (running) return
    running = true
    try {
      if (now) for (const p of await all()) if (p.state === "pending" && p.next > Date.now()) await save({ ...p, next: 0 })
      const go = () => sendDue(app.session.token)
      const sent = navigator.locks ? await navigator.locks.request("ayni-photos", go) : await go()
      if (sent) onSent()
    } catch {
      // storage unavailable for a moment: the next round tries again
    } finally {
      running = false
    }
  }
  app.sync.repo.networkSubsystem.on("peer", () => run(true))
  window.addEventListener("online", () => run(true))
  setInterval(run, 5000)
  run()
  return { now: () => run(true) }
}
