// Each zone of an EDAN as `ayni report` judges it (node/src/report.rs,
// `build`): HQ's accepted observation, the one team's when only one
// reported, or "needs decision" when several did — never a blind sum.

import { merged } from "./app"
import type { Doc } from "./sync"

export type Decision = "accepted" | "single_observation" | "no_data" | "needs_decision"

export interface ZoneView {
  zone: string
  name: string | null
  decision: Decision
  /** The team whose figures count (or "manual"), when decided. */
  source: string | null
  /** Each team's tally, by team. */
  observations: Record<string, Doc>
}

export function zones(data: Doc): ZoneView[] {
  const meta = merged(data, "zones")
  const tallies = data.tallies ?? {}
  const accepted = merged(data, "accepted")
  const ids = [...new Set([...Object.keys(meta), ...Object.keys(tallies), ...Object.keys(accepted)])].sort()
  return ids.map((zone) => {
    const observations = merged(tallies, zone)
    const choice = accepted[zone]
    const teams = Object.keys(observations)
    let decision: Decision
    let source: string | null = null
    if (choice?.team) [decision, source] = ["accepted", String(choice.team)]
    else if (choice?.values) [decision, source] = ["accepted", "manual"]
    else if (teams.length === 1) [decision, source] = ["single_observation", teams[0]]
    else if (teams.length === 0) decision = "no_data"
    else decision = "needs_decision"
    return { zone, name: meta[zone]?.name ?? null, decision, source, observations }
  })
}
