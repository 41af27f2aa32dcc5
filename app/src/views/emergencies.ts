// Emergencies: events and their EDAN assessments; an EDAN's zones as
// `ayni report` judges them; this team's tally for a zone (the EDAN
// schema's counts, validated with the node's schema before saving), the
// zone's GPS position, and its needs.

import { h, type Child } from "../dom"
import type { DocHandle } from "@automerge/automerge-repo/slim"
import { conflictsIn, listed, merged, now, reportButton, statusIn, urlOf, type App, type Listed } from "../app"
import { control, entryForm, show } from "../entries"
import { label, t } from "../i18n"
import { zones, type ZoneView } from "../report"
import { frozenFields, problems } from "../schema"
import { plain, str, type Doc } from "../sync"
import { asStored } from "../created"
import { mayCreate } from "./create"
import { zonePhotos } from "./photos"

const SECTIONS: [string, string[]][] = [
  ["sections_people", ["families_affected", "families_damnified", "persons_affected", "persons_damnified", "dead", "injured", "missing"]],
  ["sections_shelter", ["evacuated", "sheltered_collective", "in_host_families", "in_other_shelter", "refusing_evacuation"]],
  ["sections_housing", ["houses_affected_habitable", "houses_uninhabitable", "houses_destroyed"]],
  ["sections_livelihoods", ["crop_ha_affected", "crop_ha_lost", "ha_vegetation_burned", "ha_forest_lost", "active_fire_fronts"]],
]
/** Livestock is counted by species (`livestock_affected.ovino`…): DOMAIN.md's list. */
const SPECIES = ["bovino", "ovino", "camelido", "caprino", "porcino", "aves"]
const LIVESTOCK = ["livestock_affected", "livestock_dead"]
const DECIMAL = new Set(["crop_ha_affected", "crop_ha_lost", "ha_vegetation_burned", "ha_forest_lost"])
const METHODS = ["door_to_door", "estimate", "key_informant", "aerial", "secondary_data"]
const HEADLINE = ["families_affected", "persons_affected", "dead", "injured", "missing", "houses_destroyed"]
const SECTORS = ["agua_saneamiento_higiene", "alimentos", "albergue_nfi", "salud", "educacion", "proteccion", "logistica_acceso", "medios_de_vida", "busqueda_rescate", "recuperacion_temprana"]
const UNITS = ["litros_dia", "raciones", "kits", "unidades", "m2", "personas", "familias", "horas_maquina", "toneladas", "brigada"]
const PRIORITIES = ["vital", "alta", "media"]
const SERVICES = ["agua_potable", "alcantarillado_saneamiento", "energia_electrica", "telecomunicaciones", "gas", "transporte_vial", "riego"]
const SERVICE_STATES = ["funcionando", "parcial", "sin_servicio", "desconocido"]

/** Events, each with its EDAN assessments (grouped by the index's `event`: no record is opened). */
export function home(app: App): Child {
  const events = listed(app, "event")
  const edans = listed(app, "edan")
  const card = ([key, r]: [string, Listed]) =>
    h("li", {}, h("a", { href: `#/edan/${encodeURIComponent(key)}`, class: "card" },
      h("strong", {}, r.title || key), " ", h("span", { class: "badge" }, label(r.status ?? ""))))
  const sections = events.map(([key, ev]) => {
    const mine = edans.filter(([, e]) => e.event === ev.url)
    return h("section", { "aria-labelledby": `ev-${key}` },
      h("h2", { id: `ev-${key}` }, ev.title || key),
      mine.length ? h("ul", { class: "cards" }, mine.map(card)) : h("p", {}, "—"),
      reportButton(app, `/api/v1/reports/event/${encodeURIComponent(key)}?format=html`, `${t("situation_report")}: ${ev.title || key}`))
  })
  const loose = edans.filter(([, e]) => !events.some(([, ev]) => ev.url === e.event))
  const creating = [
    mayCreate(app, "edan") && events.length > 0 && h("a", { class: "button", href: "#/new/edan" }, t("new_edan")),
    mayCreate(app, "event") && h("a", { class: "button secondary", href: "#/new/event" }, t("new_event")),
  ]
  return [
    h("h1", {}, t("nav_emergencies")),
    creating,
    events.length === 0 && edans.length === 0 ? h("p", {}, t("no_events")) : null,
    sections,
    loose.length ? h("section", {}, h("h2", {}, t("edan_reports")), h("ul", { class: "cards" }, loose.map(card))) : null,
  ]
}

async function open(app: App, key: string) {
  const url = urlOf(app, "edan", key)
  return url ? app.sync.find(url) : null
}

function figures(tally: Doc): string {
  const parts = HEADLINE.filter((f) => tally[f] !== undefined).map((f) => `${label(f)}: ${tally[f]}`)
  return parts.length ? parts.join(" · ") : "—"
}

function zoneCard(app: App, key: string, z: ZoneView): Child {
  const team = app.session.team
  const badge: Record<string, Child> = {
    accepted: h("span", { class: "ok" }, `✔ ${t("accepted")}: ${z.source}`),
    needs_decision: h("span", { class: "warn", role: "status" }, `⚠ ${t("awaits_hq")} (${Object.keys(z.observations).length} ${t("observations")})`),
    single_observation: null,
    no_data: h("span", {}, t("no_tallies")),
  }
  return h("li", { class: "card" },
    h("h3", {}, `${t("zone")} ${z.zone}${z.name ? ` — ${z.name}` : ""}`),
    badge[z.decision],
    h("ul", { class: "tallies" }, Object.entries(z.observations).map(([teamName, tally]) =>
      h("li", { class: teamName === team ? "mine" : "" }, h("strong", {}, teamName), ": ", figures(tally)))),
    team && h("a", { class: "button", href: `#/edan/${encodeURIComponent(key)}/${encodeURIComponent(z.zone)}` },
      z.observations[team] ? t("edit_tally") : t("enter_tally")))
}

/** One EDAN: its zones as the report judges them, and its needs. */
export async function edan(app: App, key: string): Promise<Child> {
  const handle = await open(app, key)
  if (!handle) return h("p", { role: "alert" }, t("not_on_device"))
  app.shows(handle)
  const doc = handle.doc()
  const data = doc.data ?? {}
  const needs = Object.values(merged(data, "needs")) as Doc[]
  return [
    h("a", { href: "#/e", class: "back" }, `← ${t("back")}`),
    h("h1", {}, String(data.title ?? key)),
    h("p", {}, `${t("status_label")}: `, h("span", { class: "badge" }, label(statusIn(app, "edan", key)))),
    h("h2", {}, t("zones")),
    h("ul", { class: "cards" }, zones(data).map((z) => zoneCard(app, key, z))),
    app.session.role !== "read" && addZone(app, handle),
    h("h2", {}, t("needs")),
    needs.length ? needList(needs) : h("p", {}, t("no_needs")),
  ]
}

/** A zone the team identified ("identificación de zonas afectadas"): its short ID and name. */
function addZone(app: App, handle: DocHandle<Doc>): HTMLElement {
  const form = h("form", { novalidate: true, "aria-labelledby": "zone-title" },
    h("h3", { id: "zone-title" }, t("add_zone")),
    control({ name: "zone_id", kind: "text" }),
    control({ name: "name", kind: "text" }),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("add_zone")))
  form.addEventListener("submit", async (e) => {
    e.preventDefault()
    const value = (name: string) => (form.querySelector(`#f-${name}`) as HTMLInputElement).value.trim()
    const [id, name] = [value("zone_id"), value("name")]
    const proposed = plain(handle.doc().data)
    const zone: Doc = name ? { name, coverage_status: "in_progress" } : { coverage_status: "in_progress" }
    if (app.session.team) zone.assigned_team = app.session.team
    proposed.zones = { ...merged(proposed, "zones"), [id]: zone }
    const found = id ? await problems("edan", proposed, ["zones"]) : [{ path: ["zone_id"], message: t("field_error_required", { field: label("zone_id") }) }]
    if (!show(form, found.map((p) => (p.path.length <= 1 ? { ...p, path: ["zones", "zone_id"] } : p)), 2)) return
    app.sync.edit(handle, (d) => {
      d.data.zones ??= {}
      d.data.zones[id] = asStored(zone)
    })
    location.hash = `#/edan/${encodeURIComponent(String(handle.doc().key))}/${encodeURIComponent(id)}`
  })
  return form
}

function needList(needs: Doc[]): Child {
  return h("ul", { class: "needs" }, needs.map((n) =>
    h("li", {}, h("strong", {}, label(n.priority ?? "")), ` ${label(n.sector ?? "")}: ${n.item} × ${n.quantity} ${label(n.unit ?? "")}`,
      n.zone ? ` (${t("zone")} ${n.zone})` : "", n.identified_by_team ? ` — ${n.identified_by_team}` : "")))
}

/** The value at a dotted path (`livestock_dead.ovino`) of a tally. */
function at(tally: Doc, path: string): unknown {
  return path.split(".").reduce<any>((v, k) => v?.[k], tally)
}

/**
 * Sets (or, for `undefined`, removes) the value at a dotted path, making
 * the maps on the way: field by field, so two devices' different fields
 * merge.
 */
function put(tally: Doc, path: string, value: unknown) {
  const keys = path.split(".")
  const last = keys.pop() as string
  let map = tally
  for (const k of keys) {
    // re-read after creating: in a change, the new map is the document's, not the literal
    if (map[k] === undefined) map[k] = {}
    map = map[k]
  }
  if (value === undefined) delete map[last]
  else map[last] = value
}

/** A count of the tally, with its concurrent values said under it. */
function field(name: string, value: unknown, conflict: unknown[] | null, text?: string): HTMLElement {
  const note = conflict ? `⚠ ${t("conflict")}: ${conflict.join(" / ")}. ${t("conflict_help")}` : undefined
  return control({ name, kind: DECIMAL.has(name) ? "number" : "count", text, note }, value)
}

/** This team's tally for one zone of an EDAN, with the zone's position and needs. */
export async function zone(app: App, key: string, zoneId: string): Promise<Child> {
  const handle = await open(app, key)
  const team = app.session.team
  if (!handle) return h("p", { role: "alert" }, t("not_on_device"))
  if (!team) return h("p", {}, "—")
  app.shows(handle)
  const doc = handle.doc()
  const data = doc.data ?? {}
  const view = zones(data).find((z) => z.zone === zoneId)
  const frozen = (await frozenFields("edan", statusIn(app, "edan", key))).includes("tallies")
  const mine: Doc = view?.observations[team] ?? {}
  const clashes = conflictsIn(doc.data).filter((c) => c.path.length === 4 && c.path[0] === "tallies" && c.path[1] === zoneId && c.path[2] === team)
  const clash = (field: string) => clashes.find((c) => c.path[3] === field)?.values ?? null
  const others = Object.entries(view?.observations ?? {}).filter(([name]) => name !== team)

  const tally = h("form", { class: "tally", novalidate: true, "aria-labelledby": "tally-title" },
    h("h2", { id: "tally-title" }, `${t("your_team")}: ${team}`),
    SECTIONS.map(([title, names]) => h("fieldset", { class: "counts" }, h("legend", {}, t(title)),
      names.map((n) => field(n, mine[n], clash(n))))),
    LIVESTOCK.map((group) => h("fieldset", { class: "counts" }, h("legend", {}, label(group)),
      SPECIES.map((sp) => field(`${group}.${sp}`, mine[group]?.[sp], null, label(sp))))),
    h("fieldset", {}, h("legend", {}, t("sections_about")),
      control({ name: "method", kind: "select", options: METHODS }, mine.method),
      h("div", { class: "field" }, h("label", { for: "f-note" }, label("note")), h("textarea", { id: "f-note", name: "note", rows: 2 }, mine.note ?? ""))),
    h("p", { class: "alert", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("save")))
  tally.addEventListener("submit", async (e) => {
    e.preventDefault()
    const changes: Record<string, unknown> = {}
    for (const input of tally.querySelectorAll<HTMLInputElement>("input[type=number]")) {
      const before = at(mine, input.name)
      if (input.value === "" && before === undefined) continue
      const value = input.value === "" ? undefined : Number(input.value)
      if (value !== before) changes[input.name] = input.validity.badInput ? input.value : value
    }
    const method = (tally.querySelector("#f-method") as HTMLSelectElement).value
    if (method && method !== mine.method) changes.method = method
    const note = (tally.querySelector("#f-note") as HTMLTextAreaElement).value
    if (note !== (mine.note ?? "")) changes.note = note
    if (Object.keys(changes).length === 0) return app.say(t("saved"))
    changes.observed_at = now()
    const proposed = plain(doc.data)
    proposed.tallies ??= {}
    proposed.tallies[zoneId] = { ...merged(proposed.tallies, zoneId) }
    const next = plain(mine)
    for (const [k, v] of Object.entries(changes)) put(next, k, v)
    proposed.tallies[zoneId][team] = next
    if (!show(tally, await problems("edan", proposed, ["tallies", zoneId, team]), 3)) return
    app.sync.edit(handle, (d) => {
      d.data.tallies ??= {}
      d.data.tallies[zoneId] ??= {}
      d.data.tallies[zoneId][team] ??= {}
      for (const [k, v] of Object.entries(changes)) put(d.data.tallies[zoneId][team], k, typeof v === "string" ? str(v) : v)
    })
    app.say(t("saved"))
    app.redraw()
  })

  const geo = merged(merged(data, "zones"), zoneId).geo
  const gps = h("button", { type: "button" }, t("gps"))
  gps.addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition(
      (p) => {
        app.sync.edit(handle, (d) => {
          d.data.zones ??= {}
          d.data.zones[zoneId] ??= { name: str(view?.name ?? zoneId) }
          d.data.zones[zoneId].geo = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: Math.round(p.coords.accuracy), captured_by: str("gps") }
        })
        app.say(t("gps_saved"))
        app.redraw()
      },
      () => app.say(t("gps_failed")),
      { enableHighAccuracy: true, timeout: 20000 },
    )
  })

  return [
    h("a", { href: `#/edan/${encodeURIComponent(key)}`, class: "back" }, `← ${t("back")}`),
    h("h1", {}, `${t("zone")} ${zoneId}${view?.name ? ` — ${view.name}` : ""}`),
    view?.decision === "needs_decision" && h("p", { class: "warn", role: "status" }, `⚠ ${t("awaits_hq")}`),
    frozen ? [h("p", { class: "warn", role: "status" }, t("frozen")), h("h2", {}, `${t("your_team")}: ${team}`), h("p", {}, figures(mine))] : tally,
    h("section", {}, h("h2", {}, t("position")),
      geo ? h("p", {}, `${geo.lat}, ${geo.lon} (± ${geo.accuracy_m ?? "?"} m)`) : null, gps),
    h("section", {}, h("h2", {}, t("other_teams")),
      others.length ? h("ul", { class: "tallies" }, others.map(([name, v]) => h("li", {}, h("strong", {}, name), ": ", figures(v)))) : h("p", {}, "—")),
    await zonePhotos(app, handle, zoneId),
    needsAndServices(app, handle, zoneId, team, data),
  ]
}

function needsAndServices(app: App, handle: DocHandle<Doc>, zoneId: string, team: string, data: Doc): Child {
  const here = (field: string) => (Object.values(merged(data, field)) as Doc[]).filter((n) => n.zone === zoneId)
  const needs = here("needs")
  const services = here("services")
  return [
    h("section", {}, h("h2", {}, t("needs")), needs.length ? needList(needs) : h("p", {}, t("no_needs")),
      entryForm(app, handle, {
        kind: "edan", collection: "needs", title: t("add_need"),
        inputs: [
          { name: "sector", kind: "select", options: SECTORS },
          { name: "item", kind: "text" },
          { name: "quantity", kind: "number" },
          { name: "unit", kind: "select", options: UNITS },
          { name: "priority", kind: "select", options: PRIORITIES },
        ],
        fixed: () => ({ zone: zoneId, identified_by_team: team, status: "identified" }),
      })),
    h("section", {}, h("h2", {}, t("services")),
      services.length
        ? h("ul", {}, services.map((v) => h("li", {}, h("strong", {}, label(v.service ?? "")), `: ${label(v.status ?? "")}`, v.notes ? ` — ${v.notes}` : "")))
        : h("p", {}, "—"),
      entryForm(app, handle, {
        kind: "edan", collection: "services", title: t("add_service"),
        inputs: [
          { name: "service", kind: "select", options: SERVICES },
          { name: "status", kind: "select", options: SERVICE_STATES },
          { name: "notes", kind: "textarea" },
        ],
        fixed: () => ({ zone: zoneId }),
      })),
  ]
}
