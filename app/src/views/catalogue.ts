// The catalogue of good municipal practices, searchable with no network:
// every practice the device holds, matched on its code, titles, summary
// and thematic areas.

import { h, replace, type Child } from "../dom"
import { listed, type App } from "../app"
import { label, t } from "../i18n"
import { plain, type Doc } from "../sync"

const normal = (s: string) => s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()

function text(v: unknown): string {
  if (v === null || v === undefined) return ""
  if (typeof v === "object") return Object.values(v as Doc).map(text).join(" ")
  return String(v)
}

export async function list(app: App): Promise<Child> {
  const practices = await Promise.all(listed(app, "practice").map(async ([key, r]) => {
    const handle = await app.sync.find(r.url, 5000)
    const data = handle ? plain<Doc>(handle.doc().data) : {}
    return { key, title: r.title || key, data, haystack: normal(`${key} ${r.title} ${text(data)}`) }
  }))
  const results = h("ul", { class: "cards", id: "practices", "aria-live": "polite" })
  const draw = (query: string) => {
    const words = normal(query).split(/\s+/).filter(Boolean)
    const found = practices.filter((p) => words.every((w) => p.haystack.includes(w)))
    replace(results, found.length ? found.map((p) => h("li", {}, h("a", { class: "card", href: `#/c/${encodeURIComponent(p.key)}` },
      h("strong", {}, p.title), h("br"), h("small", {}, String(p.data.code ?? p.key))))) : h("li", {}, t("no_matches")))
  }
  const search = h("input", { id: "search", type: "search", autocomplete: "off" })
  search.addEventListener("input", () => draw(search.value))
  draw("")
  return [h("h1", {}, t("catalogue")), h("label", { for: "search" }, t("search")), search, results]
}

export async function practice(app: App, key: string): Promise<Child> {
  const entry = listed(app, "practice").find(([k]) => k === key)
  const handle = entry ? await app.sync.find(entry[1].url) : null
  if (!handle) return h("p", { role: "alert" }, t("not_on_device"))
  const data = plain<Doc>(handle.doc().data)
  const rows = Object.entries(data).filter(([k, v]) => !k.endsWith("_id") && !k.endsWith("_ids") && v !== "" && v !== null)
  return [
    h("a", { href: "#/c", class: "back" }, `← ${t("back")}`),
    h("h1", {}, String(data.title_es ?? key)),
    h("dl", {}, rows.map(([k, v]) => [h("dt", {}, label(k)), h("dd", {}, text(v))])),
  ]
}
