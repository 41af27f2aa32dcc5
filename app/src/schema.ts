// Field rules in the browser: the node's own JSON Schemas (GET
// /api/v1/schemas/KIND, the files of `schemas/`), validated with
// @cfworker/json-schema (draft 2020-12, no `eval`, so a strict content
// policy holds). The service worker keeps the last schemas fetched, so
// validation works offline. The node judges every change again on receipt:
// this is for the responder, who sees the error before saving.

import { Validator, type OutputUnit } from "@cfworker/json-schema"
import { label, t } from "./i18n"

const BASE = "https://ayni.invalid/schemas/"
const validators = new Map<string, Validator>()

async function fetchSchema(name: string): Promise<Record<string, unknown>> {
  const r = await fetch(`/api/v1/schemas/${name}`)
  if (!r.ok) throw new Error(`schema ${name}: HTTP ${r.status}`)
  return r.json()
}

const schemas = new Map<string, Record<string, any>>()

async function schemaOf(kind: string): Promise<Record<string, any>> {
  const known = schemas.get(kind)
  if (known) return known
  const schema = await fetchSchema(kind)
  schemas.set(kind, schema)
  return schema
}

/** The validator of a record kind's fields (common definitions included). */
export async function validator(kind: string): Promise<Validator> {
  const known = validators.get(kind)
  if (known) return known
  const [schema, common] = await Promise.all([schemaOf(kind), schemaOf("common")])
  const v = new Validator(schema as never, "2020-12", false)
  v.addSchema(common as never, `${BASE}common.schema.json`)
  validators.set(kind, v)
  return v
}

/**
 * The fields a record of `kind` in state `status` no longer takes from the
 * field (the schema's `x-ayni.frozen`: from a state on, as its lifecycle
 * orders states); none when the schema cannot be had.
 */
export async function frozenFields(kind: string, status: string): Promise<string[]> {
  try {
    const meta = (await schemaOf(kind))["x-ayni"] ?? {}
    const order: Record<string, number> = meta.lifecycle?.states ?? {}
    const frozen = meta.frozen
    if (!frozen || order[status] === undefined || order[frozen.from] === undefined) return []
    return order[status] >= order[frozen.from] ? frozen.fields : []
  } catch {
    return []
  }
}

/**
 * The values the schema of `kind` allows at `path` (`[]` steps into a
 * list's items), following `$ref`s into the common definitions; none when
 * the schema cannot be had.
 */
export async function enumAt(kind: string, path: string[]): Promise<string[]> {
  try {
    let doc = await schemaOf(kind)
    let node: any = doc
    const deref = async () => {
      // a node with its own properties merely adds a `$ref` (the kinds'
      // common annotations): kept as it is
      while (node?.$ref && !node.properties && !node.items && !node.enum) {
        const [file, pointer] = String(node.$ref).split("#")
        if (file) doc = await schemaOf(file.replace(/\.schema\.json$/, ""))
        node = pointer.split("/").filter(Boolean).reduce((n: any, k) => n?.[k], doc)
      }
    }
    for (const step of path) {
      await deref()
      node = step === "[]" ? node?.items : node?.properties?.[step]
    }
    await deref()
    return node?.enum ?? []
  } catch {
    return []
  }
}

/** One problem, said for people: the field's path and a sentence. */
export interface Problem {
  path: string[]
  message: string
}

const LEAF = new Set(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "type", "required", "enum", "const", "pattern", "minLength", "maxLength", "format", "additionalProperties", "propertyNames", "multipleOf"])

/**
 * What is wrong with `data` (a record's fields) under `kind`'s schema,
 * limited to the fields under `within` (the part the screen edits: other
 * fields were judged when they were written).
 */
export async function problems(kind: string, data: unknown, within: string[] = []): Promise<Problem[]> {
  let v: Validator
  try {
    v = await validator(kind)
  } catch {
    // no schema on the device and no node to ask: nothing is saved
    // unchecked (a change the node refuses would hold back every later one)
    return [{ path: [], message: t("schemas_missing") }]
  }
  const result = v.validate(data)
  if (result.valid) return []
  const seen = new Set<string>()
  const out: Problem[] = []
  for (const e of result.errors) {
    if (!LEAF.has(e.keyword)) continue
    const path = e.instanceLocation.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent)
    if (within.some((p, i) => path[i] !== p)) continue
    const message = say(e, path)
    if (seen.has(message)) continue
    seen.add(message)
    out.push({ path, message })
  }
  return out
}

function say(e: OutputUnit, path: string[]): string {
  const field = label(path[path.length - 1] ?? "")
  // the schema's limit is the last number of the validator's sentence
  const numbers = e.error.match(/-?\d+(?:\.\d+)?/g)
  const limit = numbers?.[numbers.length - 1] ?? ""
  switch (e.keyword) {
    case "minimum":
    case "exclusiveMinimum":
      return t("field_error_minimum", { field, limit })
    case "maximum":
    case "exclusiveMaximum":
      return t("field_error_maximum", { field, limit })
    case "type": {
      const type = /"(integer|number|string)"/.exec(e.error)?.[1]
      return t("field_error_type", { field, type: type ? t(`type_${type}`) : e.error })
    }
    case "required": {
      const missing = /"([^"]+)"/.exec(e.error)?.[1] ?? ""
      return t("field_error_required", { field: label(missing) })
    }
    case "enum":
    case "const":
      return t("field_error_enum", { field })
    default:
      return t("field_error_other", { field, detail: e.error })
  }
}
