// fixtures.mjs prints, as JSON on stdout, a history of one ts-mls group per
// cipher suite (1, 2 and 3, or those named as arguments): the epoch-0
// GroupInfo, then commits and proposals sent as PublicMessages by several
// ts-mls members — Adds without a path, empty commits, an Update and a
// Remove by reference, a Remove by value, Add and Remove together — each
// with the GroupInfo the committer publishes, the Welcome if any, and the
// epoch, tree hash and confirmed transcript hash ts-mls reached. The Go
// tests replay it through our wire decoder and our public group view. It is
// made fresh on every run: nothing of it is stored.
//
//	node fixtures.mjs [suite id...]
import {
  createApplicationMessage,
  createCommit,
  createProposal,
  emptyPskIndex,
  encodeExternalSender,
  joinGroup,
  processPublicMessage,
} from "ts-mls"
import { signWithLabel } from "ts-mls/crypto/signature.js"
import { encodeLeafNodeTBS } from "ts-mls/leafNode.js"
import { hex } from "./lib/bytes.mjs"
import { credential, decode, groupInfo, mlsMessage, newGroup, newKeyPackage, signatureKeys as keys, suite, suites, view } from "./lib/mls.mjs"

const server = "interop.test"

// member is one ts-mls device of the group: its keys and, once in, state.
async function member(impl, name) {
  const cred = credential(`@${name}:${server}`, name.toUpperCase())
  const signatureKeys = await keys(impl)
  const keyPackage = await newKeyPackage(impl, cred, signatureKeys)
  return { name, cred, signatureKeys, keyPackage, state: undefined }
}

// history replays one group's life in suite id and records it.
async function history(id) {
  const impl = await suite(id)
  const out = { suite: Number(id), name: impl.name, key_packages: [], steps: [] }
  const m = {}
  for (const name of ["alice", "bob", "carol", "dave", "erin"]) {
    m[name] = await member(impl, name)
    out.key_packages.push(hex(mlsMessage.keyPackage(m[name].keyPackage.publicPackage)))
  }
  const ds = await keys(impl)
  const externalSender = encodeExternalSender({
    signaturePublicKey: ds.publicKey,
    credential: { credentialType: "basic", identity: new TextEncoder().encode(`@:${server}`) },
  })
  m.alice.state = await newGroup(impl, new TextEncoder().encode(`!interop${id}:${server}`), m.alice.keyPackage, externalSender)
  out.group_info = hex(await groupInfo(impl, m.alice.state))
  out.epoch = 0
  out.tree_hash = hex(m.alice.state.groupContext.treeHash)

  // Who follows the group's handshake messages.
  let members = [m.alice]

  const deliver = async (from, message, except = []) => {
    for (const x of members) {
      if (x === from || except.includes(x)) continue
      x.state = (await processPublicMessage(x.state, message.publicMessage, emptyPskIndex, impl)).newState
    }
  }

  // propose sends a PublicMessage proposal from one member to the others.
  const propose = async (from, proposal) => {
    const res = await createProposal(from.state, true, proposal, impl)
    from.state = res.newState
    await deliver(from, res.message)
    return hex(mlsMessage.encode(res.message))
  }

  // commit has from commit extra proposals plus every proposal received,
  // delivers the commit to the other members, welcomes the added ones
  // and records the step. Members in gone stop following the group.
  const commit = async (step, from, { extra = [], proposals = [], join = [], gone = [] } = {}) => {
    const res = await createCommit({ state: from.state, cipherSuite: impl }, { wireAsPublicMessage: true, extraProposals: extra, ratchetTreeExtension: true })
    from.state = res.newState
    members = members.filter((x) => !gone.includes(x))
    await deliver(from, res.commit)
    const record = {
      name: step,
      committer: from.name,
      proposals,
      commit: hex(mlsMessage.encode(res.commit)),
      path: res.commit.publicMessage.content.commit.path !== undefined,
      group_info: hex(await groupInfo(impl, from.state)),
    }
    if (res.welcome !== undefined) {
      record.welcome = hex(mlsMessage.welcome(res.welcome))
      for (const x of join) {
        x.state = await joinGroup(res.welcome, x.keyPackage.publicPackage, x.keyPackage.privatePackage, emptyPskIndex, impl)
        members.push(x)
      }
    }
    const v = view(from.state)
    for (const x of members) {
      const other = view(x.state)
      if (other.epoch !== v.epoch || other.tree_hash !== v.tree_hash || other.epoch_authenticator !== v.epoch_authenticator) {
        throw new Error(`${step}: ${x.name} disagrees with ${from.name}: ${JSON.stringify(other)} vs ${JSON.stringify(v)}`)
      }
    }
    Object.assign(record, { epoch: v.epoch, tree_hash: v.tree_hash, confirmed_transcript_hash: v.confirmed_transcript_hash })
    out.steps.push(record)
  }

  const add = (x) => ({ proposalType: "add", add: { keyPackage: x.keyPackage.publicPackage } })
  const remove = (x) => ({ proposalType: "remove", remove: { removed: x.state.privatePath.leafIndex } })

  await commit("add bob", m.alice, { extra: [add(m.bob)], join: [m.bob] })
  await commit("add carol and dave", m.alice, { extra: [add(m.carol), add(m.dave)], join: [m.carol, m.dave] })
  await commit("bob's empty commit", m.bob)
  // ts-mls makes no Update proposals: carol signs her new leaf herself. She
  // cannot follow the commit that applies it (ts-mls keeps no private key
  // for it) and leaves the set of followers.
  const update = await propose(m.carol, { proposalType: "update", update: { leafNode: await updatedLeaf(impl, m.carol) } })
  await commit("alice commits carol's update", m.alice, { proposals: [update], gone: [m.carol] })
  await commit("alice removes dave", m.alice, { extra: [remove(m.dave)], gone: [m.dave] })
  const removal = await propose(m.bob, { proposalType: "remove", remove: { removed: m.carol.state.privatePath.leafIndex } })
  await commit("alice commits bob's removal of carol", m.alice, { proposals: [removal] })
  await commit("alice adds erin and removes bob", m.alice, { extra: [add(m.erin), remove(m.bob)], join: [m.erin], gone: [m.bob] })
  await commit("erin's empty commit", m.erin)

  const app = await createApplicationMessage(m.alice.state, new TextEncoder().encode('{"type":"m.room.message"}'), impl)
  m.alice.state = app.newState
  out.application = [hex(mlsMessage.privateMessage(app.privateMessage))]
  return out
}

// updatedLeaf is x's leaf with a fresh encryption key, signed as an
// update leaf (RFC 9420 §7.2: LeafNodeTBS with group id and leaf index).
async function updatedLeaf(impl, x) {
  const { groupContext, privatePath, ratchetTree } = x.state
  const old = ratchetTree[privatePath.leafIndex * 2].leaf
  const hpke = await impl.hpke.generateKeyPair()
  const data = {
    hpkePublicKey: await impl.hpke.exportPublicKey(hpke.publicKey),
    signaturePublicKey: old.signaturePublicKey,
    credential: old.credential,
    capabilities: old.capabilities,
  }
  const info = { leafNodeSource: "update", extensions: [] }
  const tbs = encodeLeafNodeTBS({ ...data, ...info, groupId: groupContext.groupId, leafIndex: privatePath.leafIndex })
  const signature = await signWithLabel(x.signatureKeys.signKey, "LeafNodeTBS", tbs, impl.signature)
  return { ...data, ...info, signature }
}

const ids = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(suites)
const out = []
for (const id of ids) {
  if (suites[id] === undefined) throw new Error(`unknown suite ${id}; known: ${Object.keys(suites).join(", ")}`)
  out.push(await history(id))
}
// Check our own encoding once more: every message decodes as what it is.
for (const h of out) decode(Buffer.from(h.group_info, "hex"), "mls_group_info")
process.stdout.write(JSON.stringify({ ts_mls: "1.6.4", suites: out }) + "\n")
