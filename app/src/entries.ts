// Forms that add an entry to a record's set-like collection (an EDAN's
// needs and services, a mission's log and follow-ups): labelled inputs,
// the node's schema checked before saving (problems shown on their fields,
// in the current language), the entry written under a new time-ordered ID.

import { h } from "./dom"
import { entryId, merged, type App } from "./app"
import { label, t } from "./i18n"
import { problems, type Problem } from "./schema"
import { plain, type Doc } from "./sync"
import { asStored } from "./created"
import { failedMessage, takePhotos } from "./photos"
import type { DocHandle } from "@automerge/automerge-repo/slim"

export interface Input {
  /** `count`: a whole number ≥ 0; `number`: any number ≥ 0. */
  kind: "select" | "text" | "textarea" | "number" | "count" | "date"
  name: string
  options?: string[]
  /** The label, when not the field's name for people. */
  text?: string
  /** Said under the input (e.g. its concurrent values); the field then takes a whole row. */
  note?: string
}

/** A labelled input for `input`, its error slot after it (ids `f-NAME`, `f-NAME-error`). */
export function control(input: Input, value?: unknown): HTMLElement {
  const id = `f-${input.name}`
  const common = { id, name: input.name, "aria-describedby": `${id}-error` }
  const el =
    input.kind === "select"
      ? h("select", common, h("option", { value: "" }, "—"), (input.options ?? []).map((o) => h("option", { value: o, selected: o === value }, label(o))))
      : input.kind === "textarea"
        ? h("textarea", { ...common, rows: 3 }, value === undefined ? "" : String(value))
        : h("input", {
            ...common,
            type: input.kind === "count" ? "number" : input.kind,
            ...(input.kind === "number" ? { min: 0, step: "any", inputmode: "decimal" } : {}),
            ...(input.kind === "count" ? { min: 0, step: 1, inputmode: "numeric" } : {}),
            value: value === undefined ? "" : String(value),
          })
  return h("div", { class: input.note ? "field wide" : "field" },
    h("label", { for: id }, input.text ?? label(input.name)),
    el,
    input.note && h("p", { class: "conflict", role: "note" }, input.note),
    h("p", { class: "error", id: `${id}-error` }))
}

/** Marks `found` on `form`'s fields (the path's part at `at` names the field) and lists them in its alert; true when there are none. */
export function show(form: HTMLElement, found: Problem[], at: number): boolean {
  form.querySelectorAll(".error").forEach((e) => (e.textContent = ""))
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"))
  for (const p of found) {
    const name = p.path[at] ?? p.path.at(-1)
    form.querySelector(`#${CSS.escape(`f-${name}`)}`)?.setAttribute("aria-invalid", "true")
    const slot = form.querySelector(`#${CSS.escape(`f-${name}-error`)}`)
    if (slot) slot.textContent = p.message
  }
  const alert = form.querySelector(".alert")
  if (alert) alert.textContent = found.length ? `${t("not_saved")} ${found.map((p) => p.message).join(". ")}` : ""
  return found.length === 0
}

/**
 * A form adding to `collection` of the record in `handle` (of `kind`):
 * `inputs` filled in, merged over `fixed` (fields the screen sets itself),
 * checked with the kind's schema, then written.
 */
export function entryForm(app: App, handle: DocHandle<Doc>, o: { kind: string; collection: string; title: string; inputs: Input[]; fixed?: () => Doc; photos?: boolean }): HTMLElement {
  const titleId = `${o.collection}-title`
  const photoInput = o.photos
    ? h("input", { id: `f-${o.collection}-photos`, type: "file", accept: "image/*", capture: "environment", multiple: true })
    : null
  const form = h("form", { novalidate: true, "aria-labelledby": titleId },
    h("h3", { id: titleId }, o.title),
    o.inputs.map((i) => control(i)),
    photoInput && h("div", { class: "field" }, h("label", { for: photoInput.id }, t("take_photos")), photoInput),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, o.title))
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    const entry: Doc = { ...(o.fixed?.() ?? {}) }
    for (const i of o.inputs) {
      const v = (form.querySelector(`#f-${i.name}`) as HTMLInputElement).value.trim()
      if (v !== "") entry[i.name] = i.kind === "number" ? Number(v) : v
    }
    const files = [...(photoInput?.files ?? [])]
    if (files.length) {
      // kept on the phone first: the entry references them at once, the
      // queue sends them; a file not kept stops the entry (nothing is saved)
      const { entries, failed } = await takePhotos(files, app.session.client, {})
      if (failed.length) {
        const alert = form.querySelector(".alert")
        if (alert) alert.textContent = failedMessage(failed, t)
        return
      }
      entry.attachments = entries
    }
    const id = entryId()
    const proposed = plain(handle.doc().data)
    proposed[o.collection] = { ...merged(proposed, o.collection), [id]: entry }
    if (!show(form, await problems(o.kind, proposed, [o.collection, id]), 2)) return
    app.sync.edit(handle, (d) => {
      d.data[o.collection] ??= {}
      d.data[o.collection][id] = asStored(entry)
    })
    if (files.length) app.uploads.now()
    app.say(t("saved"))
    app.redraw()
  })
  return form
}
