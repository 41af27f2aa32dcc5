// Assistance missions: the list, and one mission's log, results and
// follow-ups (transfer-to-job follow-up of trained staff among them), with
// forms to add a log entry and a follow-up, validated with the node's
// mission schema.

import { h, type Child } from "../dom"
import { entryId, listed, merged, now, statusIn, urlOf, type App } from "../app"
import { label, t } from "../i18n"
import { problems } from "../schema"
import { str, type Doc } from "../sync"

const FOLLOW_UP_KINDS = ["strategic", "methodological", "transfer_to_job", "funder_reporting"]
const FOLLOW_UP_STATES = ["scheduled", "in_progress", "done", "closed", "skipped"]

export function list(app: App): Child {
  const missions = listed(app, "mission")
  return [
    h("h1", {}, t("missions")),
    missions.length === 0 ? h("p", {}, t("no_missions")) : h("ul", { class: "cards" }, missions.map(([key, r]) =>
      h("li", {}, h("a", { class: "card", href: `#/m/${encodeURIComponent(key)}` }, h("strong", {}, r.title || key), " ", h("span", { class: "badge" }, label(r.status ?? "")))))),
  ]
}

const byTime = (field: string) => (a: Doc, b: Doc) => String(a[field] ?? "").localeCompare(String(b[field] ?? ""))

export async function mission(app: App, key: string): Promise<Child> {
  const url = urlOf(app, "mission", key)
  const handle = url ? await app.sync.find(url) : null
  if (!handle) return h("p", { role: "alert" }, t("not_on_device"))
  const data = handle.doc().data ?? {}
  const log = (Object.values(merged(data, "log")) as Doc[]).sort(byTime("at"))
  const results = Object.values(merged(data, "results")) as Doc[]
  const followUps = (Object.values(merged(data, "follow_ups")) as Doc[]).sort(byTime("due_at"))
  const writer = app.session.role !== "read"

  const logForm = h("form", { novalidate: true, "aria-labelledby": "log-title" },
    h("h3", { id: "log-title" }, t("add_log")),
    h("div", { class: "field" }, h("label", { for: "f-text" }, label("text")), h("textarea", { id: "f-text", rows: 3, "aria-describedby": "f-text-error" }), h("p", { class: "error", id: "f-text-error" })),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("add_log")))
  logForm.addEventListener("submit", async (e) => {
    e.preventDefault()
    const text = (logForm.querySelector("#f-text") as HTMLTextAreaElement).value.trim()
    const entry: Doc = { at: now(), author: app.session.client, text }
    await add(app, handle, logForm, "log", entry)
  })

  const followForm = h("form", { novalidate: true, "aria-labelledby": "fu-title" },
    h("h3", { id: "fu-title" }, t("add_follow_up")),
    choice("fu-kind", "kind", FOLLOW_UP_KINDS),
    choice("fu-status", "status", FOLLOW_UP_STATES),
    h("div", { class: "field" }, h("label", { for: "f-fu-due" }, label("due_at")), h("input", { id: "f-fu-due", type: "date" })),
    h("div", { class: "field" }, h("label", { for: "f-fu-findings" }, label("findings")), h("textarea", { id: "f-fu-findings", rows: 3 })),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("add_follow_up")))
  followForm.addEventListener("submit", async (e) => {
    e.preventDefault()
    const v = (id: string) => (followForm.querySelector(`#f-${id}`) as HTMLInputElement).value
    const entry: Doc = {}
    if (v("fu-kind")) entry.kind = v("fu-kind")
    if (v("fu-status")) entry.status = v("fu-status")
    if (v("fu-due")) entry.due_at = v("fu-due")
    if (v("fu-findings").trim()) entry.findings = v("fu-findings").trim()
    await add(app, handle, followForm, "follow_ups", entry)
  })

  return [
    h("a", { href: "#/m", class: "back" }, `← ${t("back")}`),
    h("h1", {}, String(data.title ?? key)),
    h("p", {}, `${t("status_label")}: `, h("span", { class: "badge" }, label(statusIn(app, "mission", key)))),
    h("h2", {}, t("log")),
    log.length ? h("ol", { class: "log" }, log.map((l) => h("li", {}, h("time", {}, String(l.at ?? "").slice(0, 16).replace("T", " ")), " ", l.author ? h("strong", {}, `${l.author}: `) : null, String(l.text ?? "")))) : h("p", {}, "—"),
    writer && logForm,
    h("h2", {}, t("results")),
    results.length ? h("ul", {}, results.map((r) => h("li", {}, h("strong", {}, label(r.kind ?? "")), `: ${r.description ?? ""}`, r.quantity ? ` (${r.quantity.value} ${r.quantity.unit})` : ""))) : h("p", {}, "—"),
    h("h2", {}, t("follow_ups")),
    followUps.length ? h("ul", {}, followUps.map((f) => h("li", {}, h("strong", {}, label(f.kind ?? "")), ` — ${label(f.status ?? "")}`, f.due_at ? ` (${f.due_at})` : "", f.findings ? `: ${f.findings}` : ""))) : h("p", {}, "—"),
    writer && followForm,
  ]
}

function choice(id: string, name: string, options: string[]): Child {
  return h("div", { class: "field" },
    h("label", { for: `f-${id}` }, label(name)),
    h("select", { id: `f-${id}`, "aria-describedby": `f-${id}-error` }, h("option", { value: "" }, "—"), options.map((o) => h("option", { value: o }, label(o)))),
    h("p", { class: "error", id: `f-${id}-error` }))
}

/** Adds `entry` to the set-like collection `field` of the mission, if its schema allows it. */
async function add(app: App, handle: NonNullable<Awaited<ReturnType<App["sync"]["find"]>>>, form: HTMLElement, field: string, entry: Doc) {
  const id = entryId()
  const proposed = JSON.parse(JSON.stringify({ ...handle.doc().data, [field]: { [id]: entry } }))
  const found = await problems("mission", proposed, [field, id])
  const alert = form.querySelector(".alert")
  if (alert) alert.textContent = found.length ? `${t("not_saved")} ${found.map((p) => p.message).join(". ")}` : ""
  if (found.length) return
  app.sync.edit(handle, (d) => {
    d.data[field] ??= {}
    d.data[field][id] = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, typeof v === "string" ? str(v) : v]))
  })
  app.say(t("saved"))
  app.redraw()
}
