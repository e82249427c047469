// device.mjs is one Matrix device whose MLS is ts-mls, driven over
// stdin/stdout by the Go interop tests: each stdin line is a request
// {"id", "cmd", "args"}, answered by one stdout line {"id", "ok": true,
// "result"} or {"id", "ok": false, "error", "views"}, where views shows
// the device's every group (epoch, tree hash, epoch authenticator,
// members) so that a failure can be debugged. It talks to its homeserver
// over HTTP only. Diagnostics go to stderr.
//
// Commands (args):
//
//	register {homeserver, username, password, suite?}  → {user_id, device_id}
//	login {homeserver, user, password, suite?}         → {user_id, device_id}
//	upload_key_packages {count}                        → {key_ids, counts}
//	create_room {...extra /createRoom keys}            → {room_id}
//	join_room {room_id, via?}                          → {room_id}
//	invite {room_id, user_id}                          → {}
//	create_group {room_id}      genesis, answered once the DS accepts or rejects it
//	commit {room_id, add?: [{user_id, device_id}], remove?: [...], aad?: {action, target}, filler?, hold?}
//	                            → the DS's answer: {outcome: "accepted", epoch, view}
//	                              or {outcome: "rejected", errcode, error, current_epoch};
//	                              with hold, the commit is only made: {commit: <id>, epoch};
//	                              without aad, filler is the length of an authenticated_data of dots
//	send_held {room_id, commit} sends a held commit → the DS's answer as for commit
//	send {room_id, body}        an m.room.message as m.room.encrypted (m.mls.10) → {event_id, epoch}
//	await {kind, room_id?, epoch?, body?, timeout_ms?}  syncs until it happens → the happening
//	sync {timeout_ms?}          one /sync → {happenings}
//	view {room_id}              → the group's view
//
// Happenings are what the device saw, in order: welcome, commit, proposal,
// accepted, rejected, message, undecryptable, invite, error.
import { createInterface } from "node:readline"
import { ciphersuites, createApplicationMessage, createCommit, emptyPskIndex, joinGroup, processPrivateMessage, processPublicMessage } from "ts-mls"
import { ratchetTreeFromExtension } from "ts-mls/groupInfo.js"
import { b64, canonicalJSON, equalBytes, hex, sha256b64, unb64 } from "./lib/bytes.mjs"
import { Matrix, serverOf } from "./lib/matrix.mjs"
import { credential, decode, groupInfo, mlsMessage, newGroup, newKeyPackage, processExternalProposal, signatureKeys, suite, view } from "./lib/mls.mjs"

const log = (...args) => console.error(new Date().toISOString(), ...args)

class Device {
  constructor() {
    this.keyPackages = new Map() // hex KeyPackageRef → KeyPackage with private keys
    this.rooms = new Map() // room ID → {state, commits: Map(id → made commit), deferred: []}
    this.happenings = []
    this.consumed = 0 // happenings before this index were handed to an await
    this.sent = new Set() // event IDs of our own room messages
  }

  async start(args, signIn) {
    this.matrix = new Matrix(args.homeserver)
    await signIn(this.matrix)
    this.impl = await suite(args.suite ?? 1)
    this.signatureKeys = await signatureKeys(this.impl)
    this.cred = credential(this.matrix.userID, this.matrix.deviceID)
    log(`device ${this.matrix.userID} ${this.matrix.deviceID}, ${this.impl.name}`)
    return { user_id: this.matrix.userID, device_id: this.matrix.deviceID }
  }

  room(roomID) {
    if (!this.rooms.has(roomID)) this.rooms.set(roomID, { state: undefined, commits: new Map(), deferred: [] })
    return this.rooms.get(roomID)
  }

  member(roomID) {
    const r = this.rooms.get(roomID)
    if (r?.state === undefined) throw new Error(`not a member of ${roomID}'s group`)
    return r
  }

  happen(h) {
    log("happening", JSON.stringify(h))
    this.happenings.push(h)
  }

  async uploadKeyPackages({ count }) {
    const keys = {}
    for (let i = 0; i < count; i++) {
      const kp = await newKeyPackage(this.impl, this.cred, this.signatureKeys)
      this.keyPackages.set(kp.ref, kp)
      keys[`mls:${kp.ref}`] = { key: b64(mlsMessage.keyPackage(kp.publicPackage)) }
    }
    const counts = await this.matrix.uploadKeys(keys)
    return { key_ids: Object.keys(keys), counts }
  }

  // createGroup makes the room's group with the room's DS as external
  // sender and sends the DS its epoch-0 GroupInfo.
  async createGroup({ room_id: roomID }) {
    const r = this.room(roomID)
    if (r.state !== undefined) throw new Error(`already in ${roomID}'s group`)
    const ds = await this.matrix.dsInfo(serverOf(roomID))
    const id = ciphersuites[this.impl.name]
    if (!ds.ciphersuites.includes(id)) throw new Error(`the DS does not offer suite ${id}: ${JSON.stringify(ds)}`)
    const kp = await newKeyPackage(this.impl, this.cred, this.signatureKeys)
    const sender = ds.external_senders?.[String(id)] ?? (ds.ciphersuites[0] === id ? ds.external_sender : undefined)
    if (sender === undefined) throw new Error(`the DS names no external sender in suite ${id}: ${JSON.stringify(ds)}`)
    const state = await newGroup(this.impl, new TextEncoder().encode(roomID), kp, unb64(sender))
    const message = await groupInfo(this.impl, state)
    const digest = sha256b64(message)
    await this.matrix.sendToDS(serverOf(roomID), { room_id: roomID, message: b64(message) })
    const answer = await this.awaitAnswer(roomID, digest, ["accepted"])
    if (answer.kind === "accepted") {
      r.state = state
      return { outcome: "accepted", epoch: 0, view: view(state) }
    }
    return rejection(answer)
  }

  // commit makes a commit of the given Adds and Removes, plus every
  // proposal received this epoch, and sends it unless held.
  async commit({ room_id: roomID, add = [], remove = [], aad, filler = 0, hold = false }) {
    const r = this.member(roomID)
    const proposals = []
    for (const d of add) {
      const key = await this.matrix.claimKeyPackage(d.user_id, d.device_id, this.impl.name)
      proposals.push({ proposalType: "add", add: { keyPackage: decode(unb64(key), "mls_key_package").keyPackage } })
    }
    for (const d of remove) proposals.push({ proposalType: "remove", remove: { removed: leafOf(r.state, d) } })
    const authenticatedData = aad === undefined ? new Uint8Array(filler).fill(0x2e) : new TextEncoder().encode(await this.aad(roomID, aad))
    const res = await createCommit(
      { state: r.state, cipherSuite: this.impl },
      { wireAsPublicMessage: true, extraProposals: proposals, ratchetTreeExtension: true, authenticatedData },
    )
    const made = {
      from: r.state.groupContext.epoch,
      state: res.newState,
      message: mlsMessage.encode(res.commit),
      groupInfo: await groupInfo(this.impl, res.newState),
      welcome: res.welcome === undefined ? undefined : mlsMessage.welcome(res.welcome),
    }
    const id = sha256b64(made.message)
    r.commits.set(id, made)
    if (hold) return { commit: id, epoch: Number(made.from) }
    return this.sendCommit(roomID, id)
  }

  async sendCommit(roomID, id) {
    const made = this.member(roomID).commits.get(id)
    if (made === undefined) throw new Error(`no commit ${id} made for ${roomID}`)
    const content = { room_id: roomID, message: b64(made.message), commit_info: { group_info: b64(made.groupInfo) } }
    if (made.welcome !== undefined) content.commit_info.welcome = b64(made.welcome)
    await this.matrix.sendToDS(serverOf(roomID), content)
    const answer = await this.awaitAnswer(roomID, id, ["commit"])
    if (answer.kind === "commit") return { outcome: "accepted", epoch: answer.epoch, view: view(this.rooms.get(roomID).state) }
    return rejection(answer)
  }

  // aad is the profile's m.mls.aad of a membership-changing commit, naming
  // the room's current auth events.
  async aad(roomID, { action, target }) {
    const ids = {}
    for (const ev of await this.matrix.state(roomID)) {
      if (ev.state_key === "") ids[ev.type] = ev.event_id
      else if (ev.type === "m.room.member") ids[`member ${ev.state_key}`] = ev.event_id
    }
    const names =
      action === "invite"
        ? ["m.room.power_levels", "m.room.history_visibility"]
        : ["m.room.power_levels", "m.room.join_rules", "m.room.history_visibility"]
    const authEvents = Object.fromEntries(names.map((n) => [n, ids[n]]))
    const member = ids[`member ${action === "invite" ? this.matrix.userID : target}`]
    if (member !== undefined) authEvents["m.room.member"] = member
    return canonicalJSON({ "m.mls.aad": { action, target, auth_events: authEvents } })
  }

  // join joins a room the user is invited to. The inviting server may show
  // the invite to us before its own roomserver has stored it, and refuse a
  // join in that moment: a 403 is retried for up to 10 seconds.
  async join({ room_id: roomID, via = [] }) {
    const deadline = Date.now() + 10000
    for (;;) {
      try {
        return { room_id: await this.matrix.join(roomID, via) }
      } catch (err) {
        if (err.status !== 403 || Date.now() > deadline) throw err
        log("join refused, trying again:", err.message)
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
  }

  async send({ room_id: roomID, body }) {
    const r = this.member(roomID)
    const plaintext = JSON.stringify({ type: "m.room.message", content: { msgtype: "m.text", body }, room_id: roomID })
    const res = await createApplicationMessage(r.state, new TextEncoder().encode(plaintext), this.impl)
    r.state = res.newState
    const ciphertext = b64(mlsMessage.privateMessage(res.privateMessage))
    const eventID = await this.matrix.sendEvent(roomID, "m.room.encrypted", { algorithm: "m.mls.10", ciphertext })
    this.sent.add(eventID)
    return { event_id: eventID, epoch: Number(r.state.groupContext.epoch) }
  }

  // awaitAnswer waits for the DS's answer to our message digest: one of
  // kinds, or a rejection.
  async awaitAnswer(roomID, digest, kinds) {
    return this.await({ timeout_ms: 60000 }, (h) =>
      h.room_id === roomID && h.message_sha256 === digest && (h.kind === "rejected" || kinds.includes(h.kind)),
    )
  }

  // await syncs until a happening not yet handed out matches, and hands it
  // out; an error happening in the same room ends the wait.
  async await({ timeout_ms: timeout = 60000, ...want }, match = matcher(want)) {
    const deadline = Date.now() + timeout
    for (;;) {
      for (let i = this.consumed; i < this.happenings.length; i++) {
        const h = this.happenings[i]
        if (h.handed) continue
        if (match(h) || (h.kind === "error" && (want.room_id === undefined || h.room_id === want.room_id))) {
          h.handed = true
          while (this.consumed < this.happenings.length && this.happenings[this.consumed].handed) this.consumed++
          if (h.kind === "error" && !match(h)) throw new Error(`while awaiting ${JSON.stringify(want)}: ${h.error}`)
          return h
        }
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        const recent = this.happenings.slice(-20).map(({ kind, room_id, epoch, errcode, error, reason }) => ({ kind, room_id, epoch, errcode, error, reason }))
        throw new Error(`timed out after ${timeout} ms awaiting ${JSON.stringify(want)}; last happenings: ${JSON.stringify(recent)}`)
      }
      await this.sync({ timeout_ms: Math.min(left, 2000) })
    }
  }

  async sync({ timeout_ms: timeout = 0 }) {
    const before = this.happenings.length
    const res = await this.matrix.sync(this.since, timeout)
    this.since = res.next_batch
    for (const ev of res.to_device?.events ?? []) await this.guard(ev.content?.room_id, () => this.toDevice(ev))
    for (const roomID of Object.keys(res.rooms?.invite ?? {})) this.happen({ kind: "invite", room_id: roomID })
    for (const [roomID, room] of Object.entries(res.rooms?.join ?? {})) {
      for (const ev of room.timeline?.events ?? []) await this.guard(roomID, () => this.timeline(roomID, ev))
    }
    return { happenings: this.happenings.slice(before) }
  }

  // guard turns a failure to handle an event into an error happening.
  async guard(roomID, handle) {
    try {
      await handle()
    } catch (err) {
      this.happen({ kind: "error", room_id: roomID, error: String(err?.stack ?? err), view: view(this.rooms.get(roomID)?.state) })
    }
  }

  async toDevice(ev) {
    const c = ev.content ?? {}
    if (!ev.type.startsWith("m.mls.")) return
    if (typeof c.room_id !== "string" || ev.sender !== `@:${serverOf(c.room_id)}`) {
      throw new Error(`${ev.type} from ${ev.sender}, not from the DS of ${c.room_id}`)
    }
    const r = this.room(c.room_id)
    switch (ev.type) {
      case "m.mls.accepted":
        return this.happen({ kind: "accepted", room_id: c.room_id, message_sha256: c.message_sha256, epoch: c.epoch })
      case "m.mls.rejected":
        return this.happen({ kind: "rejected", room_id: c.room_id, message_sha256: c.message_sha256, errcode: c.errcode, error: c.error, current_epoch: c.current_epoch })
      case "m.mls.commit":
        return this.handleCommit(r, c)
      case "m.mls.proposal":
        return this.handleProposal(r, c)
      case "m.mls.welcome":
        return this.handleWelcome(r, c)
    }
  }

  // handleCommit follows an m.mls.commit, which carries the commit or, sent
  // by reference, names it by digest: then it is our own, or it is read
  // from the DS's log and must have that digest.
  async handleCommit(r, c) {
    const byReference = c.message === undefined
    let bytes = byReference ? undefined : unb64(c.message)
    const digest = byReference ? c.message_sha256 : sha256b64(bytes)
    if (typeof digest !== "string") throw new Error(`an m.mls.commit with neither message nor message_sha256: ${JSON.stringify(c)}`)
    const h = { kind: "commit", room_id: c.room_id, epoch: c.epoch, message_sha256: digest, sender: c.sender, by_reference: byReference }
    if (r.state === undefined || c.epoch <= Number(r.state.groupContext.epoch)) {
      // The commit that added us (its Welcome follows), or one we know.
      return this.happen({ ...h, skipped: r.state === undefined ? "not a member yet" : "already applied" })
    }
    const own = r.commits.get(digest)
    if (bytes === undefined) bytes = own?.message ?? (await this.loggedCommit(c.room_id, c.epoch, digest))
    if (own !== undefined && own.from === r.state.groupContext.epoch && equalBytes(own.message, bytes)) {
      r.state = own.state
      h.own = true
    } else {
      const message = decode(bytes, "mls_public_message")
      r.state = (await processPublicMessage(r.state, message.publicMessage, emptyPskIndex, this.impl)).newState
    }
    // Commits made for an epoch that is gone can no longer be merged.
    for (const [id, made] of r.commits) if (made.from < r.state.groupContext.epoch && id !== digest) made.stale = true
    if (Number(r.state.groupContext.epoch) !== c.epoch) {
      throw new Error(`the DS says the commit creates epoch ${c.epoch}; ts-mls is at ${r.state.groupContext.epoch}`)
    }
    this.happen({ ...h, view: view(r.state) })
    await this.retryDeferred(c.room_id, r)
  }

  // loggedCommit reads the commit that created epoch from the DS's log and
  // checks it against the digest the DS announced.
  async loggedCommit(roomID, epoch, digest) {
    const entry = await this.matrix.commit(roomID, epoch)
    const bytes = unb64(entry.message)
    if (entry.kind !== "commit" || entry.epoch !== epoch || sha256b64(bytes) !== digest) {
      throw new Error(`the DS's log holds ${entry.kind} ${sha256b64(bytes)} for epoch ${epoch}, not the announced commit ${digest}`)
    }
    return bytes
  }

  // handleProposal records a proposal for the next commit. The DS's own
  // (its Removes of departed devices) come from the group's external
  // sender, which ts-mls cannot verify by itself (lib/mls.mjs). A proposal
  // for an epoch that is gone was covered by the commit that ended it: the
  // DS accepts no commit that leaves out its pending removals.
  async handleProposal(r, c) {
    const h = { kind: "proposal", room_id: c.room_id, epoch: c.epoch }
    if (r.state === undefined) return this.happen({ ...h, skipped: "not a member" })
    const { publicMessage } = decode(unb64(c.message), "mls_public_message")
    const epoch = r.state.groupContext.epoch
    if (publicMessage.content.epoch < epoch) return this.happen({ ...h, skipped: "stale" })
    if (publicMessage.content.epoch > epoch) throw new Error(`a proposal for epoch ${publicMessage.content.epoch}; ts-mls is at ${epoch}`)
    if (publicMessage.content.sender.senderType === "external") {
      r.state = await processExternalProposal(this.impl, r.state, publicMessage)
      h.external = true
    } else {
      r.state = (await processPublicMessage(r.state, publicMessage, emptyPskIndex, this.impl)).newState
    }
    const p = publicMessage.content.proposal
    if (p.proposalType === "remove") h.removed = p.remove.removed
    this.happen({ ...h, pending: Object.keys(r.state.unappliedProposals).length, view: view(r.state) })
  }

  async handleWelcome(r, c) {
    if (r.state !== undefined && Number(r.state.groupContext.epoch) >= c.epoch) {
      // Delivery is at least once: a Welcome seen before comes again.
      return this.happen({ kind: "welcome", room_id: c.room_id, epoch: c.epoch, skipped: "already in the group" })
    }
    const { welcome } = decode(unb64(c.welcome), "mls_welcome")
    const refs = welcome.secrets.map((s) => hex(s.newMember))
    const ref = refs.find((x) => this.keyPackages.has(x))
    if (ref === undefined) throw new Error(`a Welcome for KeyPackages ${refs.join(", ")}, none of them ours`)
    const kp = this.keyPackages.get(ref)
    let tree
    try {
      r.state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.impl)
    } catch (err) {
      if (!/RatchetTree/i.test(String(err))) throw err
      // No ratchet_tree in the Welcome: the DS serves the tree.
      const served = decode(unb64((await this.matrix.groupInfo(c.room_id)).group_info), "mls_group_info")
      tree = ratchetTreeFromExtension(served.groupInfo)
      r.state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.impl, tree)
    }
    this.keyPackages.delete(ref)
    if (Number(r.state.groupContext.epoch) !== c.epoch) {
      throw new Error(`the DS says the Welcome is for epoch ${c.epoch}; ts-mls joined epoch ${r.state.groupContext.epoch}`)
    }
    this.happen({ kind: "welcome", room_id: c.room_id, epoch: c.epoch, key_package: ref, tree_from_ds: tree !== undefined, view: view(r.state) })
    await this.retryDeferred(c.room_id, r)
  }

  async timeline(roomID, ev) {
    if (ev.type !== "m.room.encrypted" || ev.content?.algorithm !== "m.mls.10" || this.sent.has(ev.event_id)) return
    const r = this.room(roomID)
    const message = decode(unb64(ev.content.ciphertext), "mls_private_message").privateMessage
    if (r.state !== undefined && message.epoch > r.state.groupContext.epoch) {
      // Sent after a commit we have not seen yet: try again after it.
      r.deferred.push(ev)
      return
    }
    await this.decrypt(roomID, r, ev, message)
  }

  async retryDeferred(roomID, r) {
    const waiting = r.deferred
    r.deferred = []
    for (const ev of waiting) await this.timeline(roomID, ev)
  }

  async decrypt(roomID, r, ev, message) {
    const h = { room_id: roomID, event_id: ev.event_id, sender: ev.sender, epoch: Number(message.epoch) }
    if (r.state === undefined) return this.happen({ ...h, kind: "undecryptable", reason: "not a member" })
    let res
    try {
      res = await processPrivateMessage(r.state, message, emptyPskIndex, this.impl)
    } catch (err) {
      return this.happen({ ...h, kind: "undecryptable", reason: String(err), view: view(r.state) })
    }
    r.state = res.newState
    if (res.kind !== "applicationMessage") throw new Error(`room event ${ev.event_id} holds a handshake message`)
    const plaintext = JSON.parse(new TextDecoder().decode(res.message))
    if (plaintext.room_id !== roomID) throw new Error(`event ${ev.event_id}: plaintext for room ${plaintext.room_id}`)
    this.happen({ ...h, kind: "message", plaintext })
  }
}

// leafOf finds the leaf of a device in the group.
function leafOf(state, { user_id: userID, device_id: deviceID }) {
  const identity = `${userID}|${deviceID}`
  const decoder = new TextDecoder()
  const i = state.ratchetTree.findIndex((n) => n?.nodeType === "leaf" && decoder.decode(n.leaf.credential.identity) === identity)
  if (i < 0) throw new Error(`${identity} is not in the group`)
  return i / 2
}

function rejection(h) {
  return { outcome: "rejected", errcode: h.errcode, error: h.error, current_epoch: h.current_epoch }
}

// matcher matches happenings on the fields of want: kind, room_id, epoch
// and, for messages, the body.
function matcher({ kind, room_id: roomID, epoch, body }) {
  return (h) =>
    h.kind === kind &&
    !h.skipped &&
    (roomID === undefined || h.room_id === roomID) &&
    (epoch === undefined || h.epoch === epoch) &&
    (body === undefined || h.plaintext?.content?.body === body)
}

const device = new Device()

const commands = {
  register: (a) => device.start(a, (m) => m.register(a.username, a.password)),
  login: (a) => device.start(a, (m) => m.login(a.user, a.password)),
  upload_key_packages: (a) => device.uploadKeyPackages(a),
  create_room: async (a) => ({ room_id: await device.matrix.createMLSRoom(a) }),
  join_room: (a) => device.join(a),
  invite: async (a) => (await device.matrix.invite(a.room_id, a.user_id), {}),
  create_group: (a) => device.createGroup(a),
  commit: (a) => device.commit(a),
  send_held: (a) => device.sendCommit(a.room_id, a.commit),
  send: (a) => device.send(a),
  await: (a) => device.await(a),
  sync: (a) => device.sync(a),
  view: (a) => view(device.member(a.room_id).state),
}

function views() {
  return Object.fromEntries([...device.rooms].map(([roomID, r]) => [roomID, view(r.state)]))
}

// Requests are handled one at a time, in order.
let queue = Promise.resolve()
const lines = createInterface({ input: process.stdin })
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let req
    try {
      req = JSON.parse(line)
      const command = commands[req.cmd]
      if (command === undefined) throw new Error(`unknown command ${JSON.stringify(req.cmd)}`)
      const result = await command(req.args ?? {})
      write({ id: req.id, ok: true, result })
    } catch (err) {
      log("failed:", err?.stack ?? err)
      write({ id: req?.id, ok: false, error: String(err?.message ?? err), views: views() })
    }
  })
})
lines.on("close", () => queue.then(() => process.exit(0)))

function write(v) {
  process.stdout.write(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? Number(x) : x)) + "\n")
}
