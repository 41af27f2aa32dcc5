// New records from the phone, offline: an EDAN for an event (type, date
// and time, location, sources, the first zone with the device's GPS
// point) and — when the team is first on the scene — the event itself.
// Offered where the client's role may create them (`/api/v1/me`'s
// `may_create`, from the permits); checked with the node's schema before
// anything is made; the node judges the creation again.

import { h, type Child } from "../dom"
import { listed, type App } from "../app"
import { createRecord } from "../created"
import { control, show } from "../entries"
import { label, t } from "../i18n"
import { enumAt, problems, type Problem } from "../schema"
import type { Doc } from "../sync"

/** Whether this client may create records of `kind`. */
export const mayCreate = (app: App, kind: string) => app.session.role !== "read" && (app.session.may_create ?? []).includes(kind)

const value = (form: HTMLElement, name: string) => (form.querySelector(`#${CSS.escape(`f-${name}`)}`) as HTMLInputElement | null)?.value.trim() ?? ""

/** A `datetime-local` value as the schemas' `date-time` (this device's offset). */
function isoLocal(v: string): string | undefined {
  if (!v) return undefined
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, "Z")
}

/** Now, as a `datetime-local` input shows it. */
function localNow(): string {
  const d = new Date()
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset())
  return d.toISOString().slice(0, 16)
}

function position(): Promise<GeolocationPosition | null> {
  return new Promise((resolve) =>
    navigator.geolocation
      ? navigator.geolocation.getCurrentPosition(resolve, () => resolve(null), { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 })
      : resolve(null))
}

/** The new-EDAN form (`#/new/edan[/EVENT-KEY]`). */
export async function newEdan(app: App, eventKey?: string): Promise<Child> {
  if (!mayCreate(app, "edan")) return h("p", { role: "alert" }, t("may_not_create"))
  const events = listed(app, "event")
  if (events.length === 0) return [h("h1", {}, t("new_edan")), h("p", {}, t("no_events")), mayCreate(app, "event") && h("a", { class: "button", href: "#/new/event" }, t("new_event"))]
  const [types, departments, sources] = await Promise.all([
    enumAt("edan", ["edan_type"]), enumAt("edan", ["location", "department"]), enumAt("edan", ["info_sources", "[]"]),
  ])
  const form = h("form", { novalidate: true, "aria-labelledby": "new-edan-title" },
    h("div", { class: "field" }, h("label", { for: "f-event_id" }, label("event_id")),
      h("select", { id: "f-event_id", name: "event_id", "aria-describedby": "f-event_id-error" },
        events.map(([key, ev]) => h("option", { value: key, selected: key === eventKey }, ev.title || key))),
      h("p", { class: "error", id: "f-event_id-error" })),
    control({ name: "edan_type", kind: "select", options: types }, "preliminar"),
    control({ name: "title", kind: "text" }),
    h("div", { class: "field" }, h("label", { for: "f-evaluation_started_at" }, label("evaluation_started_at")),
      h("input", { id: "f-evaluation_started_at", name: "evaluation_started_at", type: "datetime-local", value: localNow(), "aria-describedby": "f-evaluation_started_at-error" }),
      h("p", { class: "error", id: "f-evaluation_started_at-error" })),
    h("fieldset", {}, h("legend", {}, label("location")),
      control({ name: "department", kind: "select", options: departments }),
      control({ name: "community_or_zone", kind: "text" })),
    h("fieldset", {}, h("legend", {}, label("info_sources")),
      sources.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "info_sources", value: s }), ` ${label(s)}`))),
    h("fieldset", {}, h("legend", {}, t("first_zone")),
      control({ name: "zone_id", kind: "text" }, "z1"),
      control({ name: "name", kind: "text" }),
      h("p", {}, t("first_zone_gps"))),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("create_edan")))
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    const [, ev] = events.find(([k]) => k === value(form, "event_id")) ?? events[0]
    const eventId = String(ev.url).replace(/^automerge:/, "")
    const zoneId = value(form, "zone_id")
    const zoneName = value(form, "name") || zoneId
    const data: Doc = {
      event_id: eventId,
      edan_type: value(form, "edan_type"),
      title: value(form, "title") || `EDAN ${label(value(form, "edan_type")).toLowerCase()} — ${zoneName}`,
      zones: { [zoneId]: { name: zoneName, coverage_status: "in_progress", ...(app.session.team ? { assigned_team: app.session.team } : {}) } },
    }
    const started = isoLocal(value(form, "evaluation_started_at"))
    if (started) data.evaluation_started_at = started
    const place: Doc = {}
    if (value(form, "department")) place.department = value(form, "department")
    if (value(form, "community_or_zone")) place.community_or_zone = value(form, "community_or_zone")
    if (Object.keys(place).length) data.location = place
    const picked = [...form.querySelectorAll<HTMLInputElement>("input[name=info_sources]:checked")].map((i) => i.value)
    if (picked.length) data.info_sources = picked
    const found = zoneId ? await problems("edan", data) : [{ path: ["zone_id"], message: t("field_error_required", { field: label("zone_id") }) }]
    const at = (p: Problem): Problem => (p.path[0] === "zones" ? { ...p, path: [p.path[2] ?? "zone_id"] } : p.path[0] === "location" ? { ...p, path: [p.path[1] ?? "department"] } : p)
    if (!show(form, found.map(at), 0)) return
    form.querySelector("button")?.setAttribute("disabled", "")
    app.say(t("gps_wait"))
    const where = await position()
    if (where) data.zones[zoneId].geo = { lat: where.coords.latitude, lon: where.coords.longitude, accuracy_m: Math.round(where.coords.accuracy), captured_by: "gps" }
    const handle = createRecord(app, "edan", data, { title: data.title, event: ev.url })
    app.say(where ? t("created") : `${t("created")} ${t("gps_failed")}`)
    window.location.hash = `#/edan/${encodeURIComponent(handle.documentId)}/${encodeURIComponent(zoneId)}`
  })
  return [
    h("a", { href: "#/e", class: "back" }, `← ${t("back")}`),
    h("h1", { id: "new-edan-title" }, t("new_edan")),
    form,
  ]
}

/** The new-event form (`#/new/event`): a team first on the scene. */
export async function newEvent(app: App): Promise<Child> {
  if (!mayCreate(app, "event")) return h("p", { role: "alert" }, t("may_not_create"))
  const [hazards, departments] = await Promise.all([enumAt("event", ["hazard_type"]), enumAt("event", ["scope", "[]", "department"])])
  const form = h("form", { novalidate: true, "aria-labelledby": "new-event-title" },
    control({ name: "name", kind: "text" }),
    control({ name: "hazard_type", kind: "select", options: hazards }),
    h("div", { class: "field" }, h("label", { for: "f-started_at" }, label("started_at")),
      h("input", { id: "f-started_at", name: "started_at", type: "datetime-local", value: localNow(), "aria-describedby": "f-started_at-error" }),
      h("p", { class: "error", id: "f-started_at-error" })),
    control({ name: "department", kind: "select", options: departments }),
    control({ name: "province", kind: "text" }),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("create_event")))
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    const scope: Doc = { department: value(form, "department") }
    if (value(form, "province")) scope.province = value(form, "province")
    const data: Doc = { name: value(form, "name"), hazard_type: value(form, "hazard_type"), scope: [scope] }
    const started = isoLocal(value(form, "started_at"))
    if (started) data.started_at = started
    for (const k of ["name", "hazard_type"]) if (!data[k]) delete data[k]
    if (!scope.department) delete scope.department
    const found = await problems("event", data)
    if (!show(form, found.map((p) => (p.path[0] === "scope" ? { ...p, path: [p.path[2] ?? "department"] } : p)), 0)) return
    const handle = createRecord(app, "event", data, { title: data.name })
    app.say(t("created"))
    window.location.hash = `#/new/edan/${encodeURIComponent(handle.documentId)}`
  })
  return [
    h("a", { href: "#/e", class: "back" }, `← ${t("back")}`),
    h("h1", { id: "new-event-title" }, t("new_event")),
    form,
  ]
}
