// A zone's photos on its screen: each with its state (pending on the
// phone, sent, refused, or on the node only), and a button that takes
// more from the camera or the gallery, at the size chosen for the link.

import { h, type Child } from "../dom"
import { merged, type App } from "../app"
import { asStored } from "../created"
import { t } from "../i18n"
import { failedMessage, photo, setSizeChoice, sizeChoice, takePhotos, type Photo, type SizeChoice } from "../photos"
import { problems } from "../schema"
import { plain, type Doc } from "../sync"
import type { DocHandle } from "@automerge/automerge-repo/slim"

/** A kept photo's state, for people, and its class. */
function said(kept: Photo | undefined): [string, string] {
  if (!kept) return [t("photo_on_node"), "ok"]
  if (kept.state === "sent") return [t("photo_sent"), "ok"]
  if (kept.state === "refused") return [`${t("photo_refused")} (${kept.error})`, "error"]
  return [t("photo_pending"), "warn"]
}

async function item(entry: Doc): Promise<HTMLElement> {
  const kept = await photo(String(entry.hash))
  const [state, cls] = said(kept)
  return h("li", { class: "photo" },
    kept ? h("img", { src: URL.createObjectURL(kept.blob), alt: `${t("photo")} ${entry.name ?? ""}`, width: 96, height: 72 }) : null,
    h("span", {}, h("span", { class: `state ${cls}`, "data-hash": String(entry.hash) }, state), h("br", {}), String(entry.name ?? ""), entry.geo ? ` · ${t("photo_gps")}` : ""))
}

/** Says each shown photo's state again (the queue sent some), leaving the rest of the screen alone. */
export async function refreshPhotoStates() {
  for (const el of document.querySelectorAll<HTMLElement>("[data-hash]")) {
    const [state, cls] = said(await photo(el.dataset.hash ?? ""))
    el.textContent = state
    el.className = `state ${cls}`
  }
}

/** The photos of zone `zoneId` of the EDAN in `handle`, and a way to add more. */
export async function zonePhotos(app: App, handle: DocHandle<Doc>, zoneId: string): Promise<Child> {
  const all = Object.values(merged(handle.doc().data, "attachments")) as Doc[]
  const here = all.filter((a) => a.zone === zoneId)
  const input = h("input", { id: "f-photos", type: "file", accept: "image/*", capture: "environment", multiple: true })
  const size = h("select", { id: "f-photo-size" },
    (["reduced", "original"] as SizeChoice[]).map((c) => h("option", { value: c, selected: c === sizeChoice() }, t(`photo_size_${c}`))))
  size.addEventListener("change", () => setSizeChoice(size.value as SizeChoice))
  const alert = h("p", { class: "alert", role: "alert", id: "photos-alert" })
  input.addEventListener("change", async () => {
    const files = [...(input.files ?? [])]
    if (!files.length) return
    alert.textContent = ""
    app.say(t("photo_taking"))
    const { entries, failed } = await takePhotos(files, app.session.client, { zone: zoneId })
    input.value = ""
    const known = new Set(Object.keys(merged(handle.doc().data, "attachments")))
    const fresh = entries.filter((e) => !known.has(e.hash))
    const proposed = plain(handle.doc().data)
    proposed.attachments = { ...merged(proposed, "attachments"), ...Object.fromEntries(fresh.map((e) => [e.hash, e])) }
    const found = await problems("edan", proposed, ["attachments"])
    if (found.length) {
      alert.textContent = found.map((p) => p.message).join(". ")
      return
    }
    if (fresh.length) {
      app.sync.edit(handle, (d) => {
        d.data.attachments ??= {}
        for (const e of fresh) d.data.attachments[e.hash] = asStored(e)
      })
    }
    app.uploads.now()
    app.say(t("photo_saved", { n: entries.length }))
    await app.redraw()
    // said after the redraw, on the screen drawn again
    const again = document.querySelector("#photos-alert")
    if (again) again.textContent = failedMessage(failed, t)
  })
  return h("section", { "aria-labelledby": "photos-title" },
    h("h2", { id: "photos-title" }, t("photos")),
    here.length ? h("ul", { class: "photos", id: "photos" }, await Promise.all(here.map(item))) : h("p", {}, t("no_photos")),
    h("div", { class: "field" }, h("label", { for: "f-photos" }, t("take_photos")), input),
    h("div", { class: "field" }, h("label", { for: "f-photo-size" }, t("photo_size")), size),
    alert)
}
