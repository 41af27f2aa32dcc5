// What the tests that talk to a serving node share: its HTTP API, waiting
// for something to hold there, and the official WebSocket adapter keeping
// the node's errors. The node's address is AYNI_HTTP.

import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

/** The official WebSocket adapter, keeping the node's `error` messages (it only logs them), as CBOR read as text. */
export class Socket extends WebSocketClientAdapter {
  errors = []
  receiveMessage(bytes) {
    const text = Buffer.from(bytes).toString("latin1")
    if (text.includes("error")) this.errors.push(text)
    super.receiveMessage(bytes)
  }
}

/** Calls the node's API as `token`: the status, and the JSON it answered (else its bytes). */
export async function api(method, path, token, body) {
  const r = await fetch(`http://${process.env.AYNI_HTTP}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  })
  const json = r.headers.get("content-type")?.includes("json")
  return { status: r.status, json: json ? await r.json() : null, bytes: json ? null : Buffer.from(await r.arrayBuffer()) }
}

/** Resolves with `check()`'s first truthy value, or fails after `ms` naming `what`. */
export async function eventually(check, what, ms = 20000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}
