// Byte helpers: unpadded base64 (Matrix), hex (fixtures), SHA-256.
import { createHash } from "node:crypto"

export function b64(bytes) {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "")
}

export function unb64(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*$/.test(text)) {
    throw new Error(`not unpadded base64: ${JSON.stringify(text)}`)
  }
  return new Uint8Array(Buffer.from(text, "base64"))
}

export function hex(bytes) {
  return Buffer.from(bytes).toString("hex")
}

export function sha256b64(bytes) {
  return b64(createHash("sha256").update(bytes).digest())
}

export function equalBytes(a, b) {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0
}

// canonicalJSON encodes v as Matrix canonical JSON: keys sorted, no
// insignificant whitespace (the profile's m.mls.aad is canonical JSON).
export function canonicalJSON(v) {
  if (Array.isArray(v)) return "[" + v.map(canonicalJSON).join(",") + "]"
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).sort()
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJSON(v[k])).join(",") + "}"
  }
  return JSON.stringify(v)
}
