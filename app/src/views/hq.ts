// HQ's desk, for hq clients: the decisions only HQ takes (double counts,
// concurrent values, amendment proposals, EDANs ready to validate or
// publish), the changes the node refused, the field devices (issue a token
// with its QR code, revoke one; enrolled laptops) and what lands live.
// Every action is a request to the node's API, which judges it like any
// change; the lists are kept on the device, so they show (not act) offline.

import { h, type Child } from "../dom"
import { reportButton, type App } from "../app"
import { label, language, t } from "../i18n"

/** The node answered with an error, or could not be reached (`status` 0). */
class Refused extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/** A call to the node's API as this client; a GET's answer is kept for offline viewing. */
export async function call(app: App, method: string, path: string, body?: unknown): Promise<any> {
  let r: Response
  try {
    r = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${app.session.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    })
  } catch {
    if (method === "GET") {
      const kept = localStorage.getItem(`ayni.hq.${path}`)
      if (kept) return JSON.parse(kept)
    }
    throw new Refused(0, t("hq_offline"))
  }
  const answer = await r.json().catch(() => null)
  if (!r.ok) throw new Refused(r.status, answer?.error?.message ?? `HTTP ${r.status}`)
  if (method === "GET") localStorage.setItem(`ayni.hq.${path}`, JSON.stringify(answer))
  return answer
}

/** The HQ screens' own tabs. */
function tabs(at: string): Child {
  const links: [string, string][] = [["#/hq", "hq_decisions"], ["#/hq/audit", "hq_audit"], ["#/hq/devices", "hq_devices"], ["#/hq/live", "hq_live"]]
  return h("p", { class: "subnav" }, links.map(([href, key]) => h("a", { href, class: "badge", "aria-current": href === at ? "page" : null }, t(key))))
}

/** Runs an action, then says how it went and draws the screen again. */
async function act(app: App, out: HTMLElement, f: () => Promise<unknown>) {
  out.textContent = ""
  try {
    await f()
    app.say(t("hq_done"))
    await app.redraw()
  } catch (e) {
    out.textContent = e instanceof Refused ? `${t("hq_refused")}: ${e.message}` : String(e)
  }
}

const recordPath = (r: { kind: string; key: string }) => `/api/v1/records/${encodeURIComponent(r.kind)}/${encodeURIComponent(r.key)}`
const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v))
const when = (at?: string) => (at ? new Date(at).toLocaleString(language()) : "")

const HEADLINE = ["families_affected", "persons_affected", "dead", "injured", "missing", "houses_destroyed", "houses_uninhabitable"]

function decision(app: App, d: any): HTMLElement {
  const out = h("p", { class: "alert", role: "alert" })
  const title = `${d.record.title ?? d.record.key}`
  let body: Child
  switch (d.type) {
    case "double_count": {
      const teams = Object.keys(d.observations)
      const fields = HEADLINE.filter((f) => teams.some((tm) => d.observations[tm][f] !== undefined))
      body = [
        h("h3", {}, `${title} — ${t("zone")} ${d.zone}${d.zone_name ? ` (${d.zone_name})` : ""}: ${t("hq_double_count", { n: teams.length })}`),
        h("table", { tabindex: 0 }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("team")), fields.map((f) => h("th", { scope: "col" }, label(f))), h("th", {}, ""))),
          h("tbody", {}, teams.map((tm) => h("tr", {}, h("th", { scope: "row" }, tm), fields.map((f) => h("td", {}, show(d.observations[tm][f] ?? "—"))),
            h("td", {}, h("button", { type: "button", onclick: () => act(app, out, () => call(app, "PATCH", recordPath(d.record), { set: { [`accepted.${d.zone}.team`]: tm } })) }, `${t("hq_accept")} ${tm}`)))))),
      ]
      break
    }
    case "conflict":
      body = [
        h("h3", {}, `${title}: ${d.path} — ${t("conflict")}`),
        h("ul", {}, d.values.map((v: any) => h("li", {}, h("strong", {}, show(v.value)), v.by ? ` — ${v.by}` : "", v.at ? `, ${when(v.at)}` : "", " ",
          h("button", { type: "button", onclick: () => act(app, out, () => call(app, "POST", `${recordPath(d.record)}/resolve`, { path: d.path, value: v.value })) }, t("hq_resolve"))))),
      ]
      break
    case "amendment":
      body = [
        h("h3", {}, `${title}: ${t("hq_amendment")} (${d.by})`),
        h("table", { tabindex: 0 }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("hq_field")), h("th", { scope: "col" }, t("hq_before")), h("th", { scope: "col" }, t("hq_after")))),
          h("tbody", {}, Object.entries(d.proposed).map(([path, v]) => h("tr", {}, h("th", { scope: "row" }, path), h("td", {}, show(d.current?.[path] ?? "—")), h("td", {}, show(v)))))),
        h("button", { type: "button", class: "primary", onclick: () => act(app, out, () => call(app, "POST", `${recordPath(d.record)}/amendments/${d.change}`, { decision: "accept" })) }, t("hq_accept")),
        h("button", { type: "button", class: "danger", onclick: () => act(app, out, () => call(app, "POST", `${recordPath(d.record)}/amendments/${d.change}`, { decision: "reject" })) }, t("hq_reject")),
      ]
      break
    default: // validate, publish
      body = [
        h("h3", {}, `${title}: ${t(`hq_ready_${d.type}`)}`),
        d.totals && h("p", {}, HEADLINE.filter((f) => d.totals[f] !== undefined).map((f) => `${label(f)}: ${d.totals[f]}`).join(" · ")),
        d.record.kind === "edan" && reportButton(app, `${recordPath(d.record)}/report`, t("hq_report")),
        h("button", { type: "button", class: "primary", onclick: () => act(app, out, () => call(app, "POST", `${recordPath(d.record)}/transition`, { state: d.type === "validate" ? "validated" : "published" })) }, t(`hq_do_${d.type}`)),
      ]
  }
  return h("li", { class: "card decision", "data-type": d.type }, body, out)
}

/** The decisions waiting, newest first (`#/hq`). */
export async function decisions(app: App): Promise<Child> {
  let found: any
  try {
    found = await call(app, "GET", "/api/v1/decisions")
  } catch (e) {
    return [h("h1", {}, t("hq_decisions")), tabs("#/hq"), h("p", { role: "alert" }, String((e as Error).message))]
  }
  return [
    h("h1", {}, t("hq_decisions")),
    tabs("#/hq"),
    h("p", { id: "decisions-count" }, t("hq_waiting", { n: found.count })),
    found.decisions.length ? h("ul", { class: "cards", id: "decisions" }, found.decisions.map((d: any) => decision(app, d))) : h("p", {}, t("hq_nothing")),
    found.count > found.decisions.length && h("p", {}, t("hq_more", { n: found.count - found.decisions.length })),
  ]
}

/** The changes the node refused (`#/hq/audit`). */
export async function audit(app: App): Promise<Child> {
  let rows: any[]
  try {
    rows = await call(app, "GET", "/api/v1/audit")
  } catch (e) {
    return [h("h1", {}, t("hq_audit")), tabs("#/hq/audit"), h("p", { role: "alert" }, String((e as Error).message))]
  }
  return [
    h("h1", {}, t("hq_audit")),
    tabs("#/hq/audit"),
    rows.length
      ? h("table", { tabindex: 0, id: "audit" },
        h("thead", {}, h("tr", {}, [t("hq_when"), t("hq_who"), t("hq_record"), t("hq_rule")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, [...rows].reverse().map((r) => h("tr", {}, h("td", {}, when(r.at)), h("td", {}, `${r.author} (${r.from})`), h("td", {}, r.record ?? r.doc), h("td", {}, r.reason)))))
      : h("p", {}, t("hq_no_refusals")),
  ]
}

/** Field devices: clients and enrolled laptops (`#/hq/devices`). */
export async function devices(app: App): Promise<Child> {
  let clients: any[], members: any[]
  try {
    ;[clients, members] = await Promise.all([call(app, "GET", "/api/v1/clients"), call(app, "GET", "/api/v1/members")])
  } catch (e) {
    return [h("h1", {}, t("hq_devices")), tabs("#/hq/devices"), h("p", { role: "alert" }, String((e as Error).message))]
  }
  const out = h("p", { class: "alert", role: "alert" })
  const issued = h("div", { id: "issued" })
  const form = h("form", { novalidate: true, "aria-labelledby": "new-device" },
    h("h2", { id: "new-device" }, t("hq_new_device")),
    h("div", { class: "field" }, h("label", { for: "d-name" }, t("hq_device_name")), h("input", { id: "d-name", name: "name", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "d-role" }, t("hq_role")), h("select", { id: "d-role" }, ["field", "read", "hq"].map((r) => h("option", { value: r }, t(`role_${r}`))))),
    h("div", { class: "field" }, h("label", { for: "d-team" }, t("team")), h("input", { id: "d-team", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "d-expires" }, t("hq_expires")), h("select", { id: "d-expires" }, ["30d", "90d", "365d", ""].map((v) => h("option", { value: v }, v ? v.replace("d", ` ${t("hq_days")}`) : t("hq_never"))))),
    h("button", { type: "submit", class: "primary" }, t("hq_issue")))
  form.addEventListener("submit", (e) => {
    e.preventDefault()
    const v = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement).value.trim()
    act(app, out, async () => {
      const made = await call(app, "POST", "/api/v1/clients", {
        name: v("d-name"), role: v("d-role"), team: v("d-team") || undefined, expires: v("d-expires") || undefined,
        app_url: new URL("./", location.href).href,
      })
      // shown after the redraw that `act` makes: kept for it
      sessionStorage.setItem("ayni.hq.issued", JSON.stringify({ name: made.client.name, link: made.link, qr_svg: made.qr_svg }))
    })
  })
  const enrol = h("form", { novalidate: true, "aria-labelledby": "new-laptop" },
    h("h2", { id: "new-laptop" }, t("hq_new_laptop")),
    h("div", { class: "field" }, h("label", { for: "l-node" }, t("hq_node_id")), h("input", { id: "l-node", autocomplete: "off", spellcheck: "false" })),
    h("div", { class: "field" }, h("label", { for: "l-name" }, t("hq_device_name")), h("input", { id: "l-name", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "l-role" }, t("hq_role")), h("select", { id: "l-role" }, ["field", "hq"].map((r) => h("option", { value: r }, t(`role_${r}`))))),
    h("div", { class: "field" }, h("label", { for: "l-team" }, t("team")), h("input", { id: "l-team", autocomplete: "off" })),
    h("button", { type: "submit", class: "primary" }, t("hq_enrol")))
  enrol.addEventListener("submit", (e) => {
    e.preventDefault()
    const v = (id: string) => (enrol.querySelector(`#${id}`) as HTMLInputElement).value.trim()
    act(app, out, async () => {
      const made = await call(app, "POST", "/api/v1/members", { node_id: v("l-node"), role: v("l-role"), name: v("l-name") || undefined, team: v("l-team") || undefined })
      sessionStorage.setItem("ayni.hq.issued", JSON.stringify({ name: made.label || made.node_id, token: made.token, qr_svg: made.qr_svg }))
    })
  })
  const kept = JSON.parse(sessionStorage.getItem("ayni.hq.issued") ?? "null")
  if (kept) {
    sessionStorage.removeItem("ayni.hq.issued")
    issued.append(h("section", { class: "card", "aria-labelledby": "qr-title" },
      h("h2", { id: "qr-title" }, kept.link ? t("hq_scan", { name: kept.name }) : t("hq_join", { name: kept.name })),
      kept.qr_svg
        ? h("img", { id: "qr", src: `data:image/svg+xml;base64,${btoa(kept.qr_svg)}`, alt: t("hq_qr_alt", { name: kept.name }), width: 280, height: 280 })
        : h("p", {}, t("hq_no_qr")),
      kept.link ? h("p", {}, h("a", { id: "qr-link", href: kept.link }, t("hq_link"))) : h("pre", { id: "enrol-token", tabindex: 0 }, `ayni join ${kept.token}`),
      h("button", { type: "button", onclick: () => window.print() }, t("hq_print"))))
  }
  const revokeMember = (m: any) => {
    const reason = h("input", { id: `r-${m.node_id}`, "aria-label": t("hq_reason"), placeholder: t("hq_reason") })
    return h("span", {}, reason, h("button", { type: "button", class: "danger", onclick: () => act(app, out, () => call(app, "POST", `/api/v1/members/${encodeURIComponent(m.node_id)}/revoke`, { reason: reason.value })) }, t("hq_revoke")))
  }
  return [
    h("h1", {}, t("hq_devices")),
    tabs("#/hq/devices"),
    issued,
    out,
    h("h2", {}, t("hq_clients")),
    h("table", { tabindex: 0, id: "clients" },
      h("thead", {}, h("tr", {}, [t("hq_device_name"), t("hq_role"), t("team"), t("hq_expires"), t("hq_last_seen"), t("hq_connections"), ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, clients.map((c) => h("tr", { "data-client": c.name },
        h("th", { scope: "row" }, c.name), h("td", {}, t(`role_${c.role}`)), h("td", {}, c.team ?? c.entity ?? "—"), h("td", {}, c.expires_at ? when(c.expires_at) : t("hq_never")),
        h("td", {}, c.last_seen ? when(c.last_seen) : "—"), h("td", {}, String(c.open_connections ?? 0)),
        h("td", {}, c.revoked_at ? `${t("hq_revoked")} ${when(c.revoked_at)}` : h("button", { type: "button", class: "danger", onclick: () => act(app, out, () => call(app, "POST", `/api/v1/clients/${encodeURIComponent(c.name)}/revoke`)) }, `${t("hq_revoke")} ${c.name}`)))))),
    form,
    h("h2", {}, t("hq_laptops")),
    h("table", { tabindex: 0, id: "members" },
      h("thead", {}, h("tr", {}, [t("hq_device_name"), t("hq_role"), t("team"), t("hq_last_sync"), ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, members.map((m) => h("tr", {},
        h("th", { scope: "row" }, m.name || m.node_id), h("td", {}, t(`role_${m.role}`)), h("td", {}, (m.teams ?? []).join(", ") || "—"), h("td", {}, m.last_sync ? when(m.last_sync) : "—"),
        h("td", {}, m.revoked ? `${t("hq_revoked")}: ${m.revoked.reason}` : m.this_node ? "" : revokeMember(m)))))),
    enrol,
  ]
}

/** New EDANs and changes as they land, and each peer's sync state (`#/hq/live`). */
export async function live(app: App): Promise<Child> {
  const list = h("ol", { id: "live-changes", class: "log", reversed: true })
  const peers = h("tbody", {})
  const drawPeers = async () => {
    try {
      const all: any[] = await call(app, "GET", "/api/v1/peers")
      peers.replaceChildren(...all.map((p) => h("tr", {}, h("th", { scope: "row" }, p.label || p.node_id), h("td", {}, t(`peer_${p.state}`)), h("td", {}, p.last_sync ? when(p.last_sync) : "—"))))
    } catch {
      // offline: the last list stays
    }
  }
  drawPeers()
  follow(app, list, drawPeers)
  return [
    h("h1", {}, t("hq_live")),
    tabs("#/hq/live"),
    h("h2", {}, t("hq_peers")),
    h("table", { tabindex: 0, id: "peers" }, h("thead", {}, h("tr", {}, [t("node"), t("hq_state"), t("hq_last_sync")].map((c) => h("th", { scope: "col" }, c)))), peers),
    h("h2", {}, t("hq_changes")),
    list,
  ]
}

/** Reads the change feed (Server-Sent Events, with the token in a header: a fetch, not EventSource) while `list` is on screen. */
async function follow(app: App, list: HTMLElement, changed: () => void) {
  const ctl = new AbortController()
  try {
    const r = await fetch("/api/v1/changes?since=now", { headers: { authorization: `Bearer ${app.session.token}` }, signal: ctl.signal })
    const reader = r.body?.getReader()
    const text = new TextDecoder()
    let buffer = ""
    while (reader && list.isConnected) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += text.decode(value, { stream: true })
      let end
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n")
        if (!data) continue
        const c = JSON.parse(data)
        const r = c.record
        list.prepend(h("li", { "data-kind": r.kind }, h("time", {}, new Date().toLocaleTimeString(language())), " ",
          h("strong", {}, `${label(r.kind)} ${r.title ?? r.key}`), r.status ? ` (${label(r.status)})` : "", r.created_by ? ` — ${r.created_by}` : ""))
        changed()
      }
    }
  } catch {
    // offline, or the screen was left
  } finally {
    ctl.abort()
  }
}
