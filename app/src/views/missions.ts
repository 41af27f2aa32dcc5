// Assistance missions: the list, and one mission's log, results and
// follow-ups (transfer-to-job follow-up of trained staff among them), with
// forms to add a log entry and a follow-up (entries.ts: checked with the
// node's mission schema).

import { h, type Child } from "../dom"
import { listed, merged, now, reportButton, statusIn, urlOf, type App } from "../app"
import { entryForm } from "../entries"
import { label, t } from "../i18n"
import type { Doc } from "../sync"

const FOLLOW_UP_KINDS = ["strategic", "methodological", "transfer_to_job", "funder_reporting"]
const FOLLOW_UP_STATES = ["scheduled", "in_progress", "done", "closed", "skipped"]

export function list(app: App): Child {
  const missions = listed(app, "mission")
  return [
    h("h1", {}, t("missions")),
    reportButton(app, "/api/v1/reports/cooperation?format=html", t("cooperation_report")),
    missions.length === 0 ? h("p", {}, t("no_missions")) : h("ul", { class: "cards" }, missions.map(([key, r]) =>
      h("li", {}, h("a", { class: "card", href: `#/m/${encodeURIComponent(key)}` }, h("strong", {}, r.title || key), " ", h("span", { class: "badge" }, label(r.status ?? "")))))),
  ]
}

const byTime = (field: string) => (a: Doc, b: Doc) => String(a[field] ?? "").localeCompare(String(b[field] ?? ""))

export async function mission(app: App, key: string): Promise<Child> {
  const url = urlOf(app, "mission", key)
  const handle = url ? await app.sync.find(url) : null
  if (!handle) return h("p", { role: "alert" }, t("not_on_device"))
  app.shows(handle)
  const data = handle.doc().data ?? {}
  const log = (Object.values(merged(data, "log")) as Doc[]).sort(byTime("at"))
  const results = Object.values(merged(data, "results")) as Doc[]
  const followUps = (Object.values(merged(data, "follow_ups")) as Doc[]).sort(byTime("due_at"))
  const writer = app.session.role !== "read"

  const logForm = entryForm(app, handle, {
    kind: "mission", collection: "log", title: t("add_log"),
    inputs: [{ name: "text", kind: "textarea" }],
    fixed: () => ({ at: now(), author: app.session.client }),
    photos: true,
  })
  const followForm = entryForm(app, handle, {
    kind: "mission", collection: "follow_ups", title: t("add_follow_up"),
    inputs: [
      { name: "kind", kind: "select", options: FOLLOW_UP_KINDS },
      { name: "status", kind: "select", options: FOLLOW_UP_STATES },
      { name: "due_at", kind: "date" },
      { name: "findings", kind: "textarea" },
    ],
  })

  return [
    h("a", { href: "#/m", class: "back" }, `← ${t("back")}`),
    h("h1", {}, String(data.title ?? key)),
    h("p", {}, `${t("status_label")}: `, h("span", { class: "badge" }, label(statusIn(app, "mission", key)))),
    h("h2", {}, t("log")),
    log.length ? h("ol", { class: "log" }, log.map((l) => h("li", {}, h("time", {}, String(l.at ?? "").slice(0, 16).replace("T", " ")), " ", l.author ? h("strong", {}, `${l.author}: `) : null, String(l.text ?? ""), Array.isArray(l.attachments) && l.attachments.length ? ` (${t("photos")}: ${l.attachments.length})` : ""))) : h("p", {}, "—"),
    writer && logForm,
    h("h2", {}, t("results")),
    results.length ? h("ul", {}, results.map((r) => h("li", {}, h("strong", {}, label(r.kind ?? "")), `: ${r.description ?? ""}`, r.quantity ? ` (${r.quantity.value} ${r.quantity.unit})` : ""))) : h("p", {}, "—"),
    h("h2", {}, t("follow_ups")),
    followUps.length ? h("ul", {}, followUps.map((f) => h("li", {}, h("strong", {}, label(f.kind ?? "")), ` — ${label(f.status ?? "")}`, f.due_at ? ` (${f.due_at})` : "", f.findings ? `: ${f.findings}` : ""))) : h("p", {}, "—"),
    writer && followForm,
  ]
}
