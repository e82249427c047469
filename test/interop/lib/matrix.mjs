// A Matrix client-server API client: only what the interop device needs,
// over plain HTTP (fetch).
import { generateKeyPairSync, sign } from "node:crypto"
import { b64, canonicalJSON } from "./bytes.mjs"

// MatrixError is an error answer of the homeserver.
export class MatrixError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path}: HTTP ${status}: ${JSON.stringify(body)}`)
    this.status = status
    this.errcode = body?.errcode
  }
}

const clientV3 = "/_matrix/client/v3"
const unstable = "/_matrix/client/unstable/org.matrix.msc4244"

export class Matrix {
  constructor(homeserver) {
    this.homeserver = homeserver.replace(/\/$/, "")
    this.txn = 0
  }

  // request sends a JSON request and returns the JSON answer; an error
  // answer throws MatrixError unless its status is in accept.
  async request(method, path, { body, query, accept = [] } = {}) {
    const url = new URL(this.homeserver + path)
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v))
    const headers = { "Content-Type": "application/json" }
    if (this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    let json
    try {
      json = text === "" ? {} : JSON.parse(text)
    } catch {
      json = { raw: text }
    }
    if (!res.ok && !accept.includes(res.status)) throw new MatrixError(method, path, res.status, json)
    return { status: res.status, json }
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).json
  }

  // register creates the user with the m.login.dummy flow and logs its
  // first device in.
  async register(username, password) {
    const body = { username, password }
    const first = await this.request("POST", `${clientV3}/register`, { body, accept: [401] })
    if (first.status === 401) body.auth = { type: "m.login.dummy", session: first.json.session }
    this.credentials(first.status === 401 ? await this.json("POST", `${clientV3}/register`, { body }) : first.json)
  }

  // login logs a new device of an existing user in.
  async login(user, password) {
    const body = { type: "m.login.password", identifier: { type: "m.id.user", user }, password }
    this.credentials(await this.json("POST", `${clientV3}/login`, { body }))
  }

  credentials(res) {
    this.userID = res.user_id
    this.deviceID = res.device_id
    this.accessToken = res.access_token
    this.serverName = this.userID.slice(this.userID.indexOf(":") + 1)
  }

  // uploadKeys publishes the device's identity keys (an Ed25519 signing
  // key and a Curve25519 key, which no one uses here but which make the
  // device a device with keys) together with one-time keys.
  async uploadKeys(oneTimeKeys) {
    const body = { one_time_keys: oneTimeKeys }
    if (!this.deviceKeysSent) body.device_keys = this.deviceKeys()
    const res = await this.json("POST", `${clientV3}/keys/upload`, { body })
    this.deviceKeysSent = true
    return res.one_time_key_counts ?? {}
  }

  deviceKeys() {
    const raw = (key) => key.export({ format: "der", type: "spki" }).subarray(-32)
    const ed = generateKeyPairSync("ed25519")
    const curve = generateKeyPairSync("x25519")
    const keys = {
      user_id: this.userID,
      device_id: this.deviceID,
      algorithms: ["m.mls.10"],
      keys: { [`ed25519:${this.deviceID}`]: b64(raw(ed.publicKey)), [`curve25519:${this.deviceID}`]: b64(raw(curve.publicKey)) },
    }
    const signature = sign(null, Buffer.from(canonicalJSON(keys)), ed.privateKey)
    return { ...keys, signatures: { [this.userID]: { [`ed25519:${this.deviceID}`]: b64(signature) } } }
  }

  // claimKeyPackage claims one KeyPackage of a device in suite and returns
  // the MLSMessage bytes' base64.
  async claimKeyPackage(userID, deviceID, suiteName) {
    const body = { one_time_keys: { [userID]: { [deviceID]: "mls" } }, mls: { acceptable_ciphersuites: [suiteName] } }
    const res = await this.json("POST", `${clientV3}/keys/claim`, { body })
    const keys = Object.values(res.one_time_keys?.[userID]?.[deviceID] ?? {})
    if (keys.length !== 1) throw new Error(`claiming a KeyPackage of ${userID} ${deviceID}: got ${JSON.stringify(res)}`)
    return keys[0].key
  }

  // createMLSRoom creates an MLS room whose DS is this homeserver.
  async createMLSRoom(extra = {}) {
    const body = {
      preset: "private_chat",
      ...extra,
      room_version: "org.matrix.msc4244",
      creation_content: { encryption_algorithm: "m.mls.10" },
    }
    return (await this.json("POST", `${clientV3}/createRoom`, { body })).room_id
  }

  async join(roomID, via = []) {
    const query = via.length > 0 ? { server_name: via[0] } : undefined
    return (await this.json("POST", `${clientV3}/join/${encodeURIComponent(roomID)}`, { body: {}, query })).room_id
  }

  async invite(roomID, userID) {
    await this.json("POST", `${clientV3}/rooms/${encodeURIComponent(roomID)}/invite`, { body: { user_id: userID } })
  }

  async state(roomID) {
    return this.json("GET", `${clientV3}/rooms/${encodeURIComponent(roomID)}/state`)
  }

  async sendEvent(roomID, type, content) {
    const path = `${clientV3}/rooms/${encodeURIComponent(roomID)}/send/${encodeURIComponent(type)}/${this.nextTxn()}`
    return (await this.json("PUT", path, { body: content })).event_id
  }

  async sendToDevice(type, messages) {
    await this.json("PUT", `${clientV3}/sendToDevice/${encodeURIComponent(type)}/${this.nextTxn()}`, { body: { messages } })
  }

  // sendToDS sends an m.mls.message to the DS of server (MSC4246: the
  // server's user "@:server", device "").
  async sendToDS(server, content) {
    await this.sendToDevice("m.mls.message", { [`@:${server}`]: { "": content } })
  }

  // dsInfo is the description of server's DS: its suites and the encoded
  // ExternalSender (base64).
  async dsInfo(server) {
    return this.json("GET", `${unstable}/ds/${encodeURIComponent(server)}`)
  }

  // commit reads the entry of the room's DS log that created epoch: how a
  // commit the DS sent by reference is fetched.
  async commit(roomID, epoch) {
    return this.json("GET", `${unstable}/rooms/${encodeURIComponent(roomID)}/mls/commits/${epoch}`)
  }

  async groupInfo(roomID) {
    return this.json("GET", `${unstable}/rooms/${encodeURIComponent(roomID)}/mls/group_info`)
  }

  async sync(since, timeoutMs) {
    const query = { timeout: timeoutMs }
    if (since) query.since = since
    return this.json("GET", `${clientV3}/sync`, { query })
  }

  nextTxn() {
    this.txn += 1
    return `interop.${Date.now()}.${this.txn}`
  }
}

// serverOf returns the server name of a room or user ID.
export function serverOf(id) {
  return id.slice(id.indexOf(":") + 1)
}
