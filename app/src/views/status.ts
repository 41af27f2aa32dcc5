// Sync state and the device: whether the node is reachable, when it was
// last heard from, which changes it has not confirmed, which records hold
// concurrent values; the language; signing out.

import { h, type Child } from "../dom"
import { conflictsIn, listed, type App } from "../app"
import { label, language, setLanguage, t, type Lang } from "../i18n"
import { signOut } from "../session"
import { pendingCount } from "../photos"

/** What the app keeps on the device (main.ts, `keepOnDevice`). */
export const KEPT = ["event", "edan", "mission", "practice"]

/**
 * The node's reason for a refusal, said for people: the rules it names
 * (`role: field may not create practice records …`) in the current
 * language; the node's own words are shown under it.
 */
export function why(reason: string): string {
  let m = /^role: (\w+) may not create (\w+) records/.exec(reason)
  if (m) return t("why_create", { role: t(`role_${m[1]}`), kind: t(`kind_${m[2]}`) })
  m = /^role: (\w+) may not (\w+) (\S+) in (\w+) records/.exec(reason)
  if (m) return t("why_field", { role: t(`role_${m[1]}`), field: label(m[3].split(".").at(-1) ?? m[3]), kind: t(`kind_${m[4]}`) })
  if (reason.startsWith("schema:")) return t("why_schema")
  if (reason.startsWith("amendment:")) return t("why_frozen")
  if (/revoked/.test(reason)) return t("why_revoked")
  return t("why_other")
}

export async function status(app: App): Promise<Child> {
  const pending = await app.sync.pending()
  const contact = app.sync.lastContact()
  const refused = app.sync.refusals()
  const photos = await pendingCount().catch(() => 0)
  // every record the device holds (one not here yet is not waited for long)
  const records = KEPT.flatMap((kind) => listed(app, kind).map(([key, r]) => ({ name: `${kind}:${key}`, url: r.url })))
  const found = await Promise.all(records.map(async (r) => {
    const handle = await app.sync.find(r.url, 1000)
    return { name: r.name, here: !!handle, found: handle ? conflictsIn(handle.doc().data) : [] }
  }))
  const held = found.filter((r) => r.here).length
  const conflicts: Child[] = found.filter((r) => r.found.length).map((r) => h("li", {}, h("strong", {}, r.name), " ",
    r.found.map((c) => h("div", { class: "conflict" }, `${c.path.join(".")}: ${c.values.map((v) => JSON.stringify(v)).join(" / ")}`))))
  const titles = new Map<string, string>()
  for (const kind of KEPT) for (const [key, r] of listed(app, kind)) titles.set(r.url.replace("automerge:", ""), `${kind}:${key}`)
  const lang = h("select", { id: "lang" }, [["es", "Español"], ["en", "English"]].map(([v, name]) => h("option", { value: v, selected: v === language() }, name)))
  lang.addEventListener("change", () => {
    setLanguage(lang.value as Lang)
    app.redraw()
  })
  const out = h("button", { type: "button", class: "danger" }, t("signout"))
  out.addEventListener("click", async () => {
    const waiting = [...(await app.sync.pending()).values()].reduce((a, b) => a + b, 0)
    if (waiting > 0 && !confirm(t("signout_pending"))) return
    await signOut()
    location.reload()
  })
  return [
    h("h1", {}, t("nav_status")),
    h("p", { id: "link", class: app.sync.online ? "ok" : "warn" }, app.sync.online ? t("online") : t("offline")),
    h("p", {}, `${t("last_contact")}: `, h("time", { id: "contact" }, contact ? new Date(contact).toLocaleString(language()) : t("never"))),
    h("p", { id: "held" }, t("held", { n: held, total: records.length })),
    h("h2", { id: "pending-title" }, pending.size ? `${t("pending")}: ${[...pending.values()].reduce((a, b) => a + b, 0)}` : t("no_pending")),
    pending.size ? h("ul", { id: "pending" }, [...pending].map(([id, n]) => h("li", {}, `${titles.get(id) ?? id}: ${n}`))) : null,
    h("p", { id: "photos-pending" }, photos ? `${t("photos_pending")}: ${photos}` : t("photos_all_sent")),
    refused.length ? h("section", { "aria-labelledby": "refused-title" },
      h("h2", { id: "refused-title", class: "warn" }, t("refused")),
      h("p", {}, t("refused_help")),
      h("ul", { id: "refused" }, refused.map((r) => h("li", {}, h("strong", {}, titles.get(r.doc) ?? r.doc), `: ${why(r.reason)}`, h("br", {}), h("small", {}, r.reason))))) : null,
    h("h2", {}, t("conflicts")),
    conflicts.length ? h("ul", { id: "conflicts" }, conflicts) : h("p", {}, t("no_conflicts")),
    h("h2", {}, t("client")),
    h("dl", {},
      h("dt", {}, t("client")), h("dd", {}, app.session.client),
      h("dt", {}, t("team")), h("dd", {}, app.session.team ?? "—"),
      h("dt", {}, t("node")), h("dd", {}, app.session.node.name)),
    h("label", { for: "lang" }, t("language")), lang,
    h("p", {}, out),
  ]
}
