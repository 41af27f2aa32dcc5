// Who is signed in on this device: the client token (kept in localStorage
// until sign-out; from the QR code's `#token=` or typed), and what the node
// said about it (name, role, team, the index document's URL), kept so the
// app opens with no network.

export interface Session {
  token: string
  client: string
  role: "hq" | "field" | "read"
  team: string | null
  node: { name: string; id: string }
  index_url: string
  /** What a record this client creates says as `created_by`. */
  author?: string
  /** The kinds of record its role may create. */
  may_create?: string[]
}

const KEY = "ayni.session"

export function saved(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null")
    return s && typeof s.token === "string" ? s : null
  } catch {
    return null
  }
}

/** A token handed over in the address (the QR code's), removed from it at once. */
export function tokenFromAddress(): string | null {
  const m = /[#&]token=([^&]+)/.exec(location.hash)
  if (!m) return null
  history.replaceState(null, "", location.pathname + location.search)
  return decodeURIComponent(m[1])
}

export class SignInError extends Error {
  constructor(public readonly reason: "bad_token" | "offline", message: string) {
    super(message)
  }
}

/** Asks the node who `token` is, and keeps the answer. */
export async function signIn(token: string): Promise<Session> {
  let r: Response
  try {
    r = await fetch("/api/v1/me", { headers: { authorization: `Bearer ${token}` }, cache: "no-store" })
  } catch (e) {
    throw new SignInError("offline", String(e))
  }
  if (r.status === 401) throw new SignInError("bad_token", "401")
  if (!r.ok) throw new SignInError("offline", `HTTP ${r.status}`)
  const me = await r.json()
  const session: Session = {
    token, client: me.client, role: me.role, team: me.team ?? null, node: me.node, index_url: me.index_url,
    author: me.author, may_create: me.may_create ?? [],
  }
  localStorage.setItem(KEY, JSON.stringify(session))
  return session
}

/** Checks a kept session with the node when it is reachable: a revoked token signs out. */
export async function recheck(s: Session): Promise<Session | "revoked" | "unreachable"> {
  try {
    return await signIn(s.token)
  } catch (e) {
    return e instanceof SignInError && e.reason === "bad_token" ? "revoked" : "unreachable"
  }
}

/** Forgets the token (a revoked one), keeping the documents. */
export function forget() {
  localStorage.removeItem(KEY)
}

/** Forgets the token and everything this device keeps (documents included). */
export async function signOut() {
  localStorage.removeItem(KEY)
  for (const k of Object.keys(localStorage)) if (k.startsWith("ayni.sync.")) localStorage.removeItem(k)
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase("ayni")
    r.onsuccess = r.onerror = r.onblocked = resolve
  })
  // the photos kept here, and the records made here, go with it
  localStorage.removeItem("ayni.created")
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase("ayni-photos")
    r.onsuccess = r.onerror = r.onblocked = resolve
  })
}
