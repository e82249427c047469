// What the interop device and the fixture script need from ts-mls, with the
// places where ts-mls 1.6.4 and RFC 9420 disagree worked around.
import {
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeExternalSender,
  decodeMlsMessage,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls"
import { p256 } from "@noble/curves/nist.js"
import { processProposal } from "ts-mls/clientState.js"
import { encode } from "ts-mls/codec/tlsEncoder.js"
import { decodeVarLenType, varLenDataEncoder } from "ts-mls/codec/variableLength.js"
import { extensionTypeToNumber } from "ts-mls/extension.js"
import { encodeGroupContext } from "ts-mls/groupContext.js"
import { makeKeyPackageRef } from "ts-mls/keyPackage.js"
import { unprotectPublicMessage } from "ts-mls/messageProtectionPublic.js"
import { equalBytes, hex } from "./bytes.mjs"

// The suites the interop tests run: the profile's default and the two
// other 128-bit suites (RFC 9420 §17.1).
export const suites = {
  1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
}

// The external_senders extension's type (RFC 9420 §12.1.8.1).
const externalSendersType = 5

const impls = new Map()

// suite returns the ts-mls implementation of a suite given by id or name.
export async function suite(idOrName) {
  const name = suites[idOrName] ?? idOrName
  if (!impls.has(name)) impls.set(name, await getCiphersuiteImpl(getCiphersuiteFromName(name)))
  return impls.get(name)
}

// credential is the profile's BasicCredential of a device: the UTF-8 of
// "<user_id>|<device_id>".
export function credential(userID, deviceID) {
  return { credentialType: "basic", identity: new TextEncoder().encode(`${userID}|${deviceID}`) }
}

// capabilities lists what the device's leaf supports. ts-mls 1.6.4 treats
// an extension given by number as non-default, and a group context holding
// one requires every leaf to list it: so 5 (external_senders) is listed.
// No GREASE values, so that runs are reproducible.
function capabilities(impl) {
  return {
    versions: ["mls10"],
    ciphersuites: [impl.name],
    extensions: [externalSendersType],
    proposals: [],
    credentials: ["basic"],
  }
}

// signatureKeys makes a signature key pair. ts-mls 1.6.4 encodes P-256
// public keys compressed (33 bytes); RFC 9420 §5.1.1 wants the
// uncompressed point (65 bytes), which is what our side accepts and what
// ts-mls's own verification reads as well. So for P-256 the public key is
// encoded again, uncompressed.
export async function signatureKeys(impl) {
  const keys = await impl.signature.keygen()
  if (getCiphersuiteFromName(impl.name).signature === "P256") keys.publicKey = p256.getPublicKey(keys.signKey, false)
  return keys
}

const day = 24n * 3600n

// newKeyPackage makes a KeyPackage signed with the device's signature key,
// valid from an hour ago for 28 days (inside ts-mls's default maximum of a
// month and our keyserver's 100 days). It returns the public and private
// parts and the KeyPackageRef.
export async function newKeyPackage(impl, cred, signatureKeys) {
  const now = BigInt(Math.floor(Date.now() / 1000))
  const lifetime = { notBefore: now - 3600n, notAfter: now - 3600n + 28n * day }
  const kp = await generateKeyPackageWithKey(cred, capabilities(impl), lifetime, [], signatureKeys, impl)
  const ref = await makeKeyPackageRef(kp.publicPackage, impl.hash)
  return { ...kp, ref: hex(ref) }
}

// externalSendersExtension wraps one encoded ExternalSender (as the DS
// serves it) into the RFC's external_senders extension, whose data is a
// vector of ExternalSender. ts-mls 1.6.4 would decode an extension typed
// "external_senders" as a single ExternalSender and refuse the group, so the
// extension is given by its number, which ts-mls keeps opaque.
export function externalSendersExtension(externalSender) {
  return { extensionType: externalSendersType, extensionData: encode(varLenDataEncoder)(externalSender) }
}

// newGroup creates a group whose only member is the device of keyPackage,
// with the DS as external sender. Once created, the extension is relabelled
// with ts-mls's name for type 5: its encoding is the same, and ts-mls then
// counts it as a default extension, so that it adds devices whose
// capabilities do not list 5 (RFC 9420 §7.2: they need not).
export async function newGroup(impl, groupID, keyPackage, externalSender) {
  const state = await createGroup(groupID, keyPackage.publicPackage, keyPackage.privatePackage, [externalSendersExtension(externalSender)], impl)
  const extensions = state.groupContext.extensions.map((e) =>
    e.extensionType === externalSendersType ? { ...e, extensionType: "external_senders" } : e,
  )
  return { ...state, groupContext: { ...state.groupContext, extensions } }
}

// externalSenders decodes the group's external_senders extension as RFC
// 9420 §12.1.8.1 defines its data: a vector of ExternalSender, indexed by a
// proposal's sender_index. The extension may carry ts-mls's name or its
// number (see newGroup); a group without it has no external senders.
export function externalSenders(groupContext) {
  const found = groupContext.extensions.filter((e) => extensionTypeToNumber(e.extensionType) === externalSendersType)
  if (found.length === 0) return []
  if (found.length > 1) throw new Error("the group context holds external_senders twice")
  const data = found[0].extensionData
  const decoded = decodeVarLenType(decodeExternalSender)(data, 0)
  if (decoded === undefined || decoded[1] !== data.length) throw new Error("external_senders is not a vector of ExternalSender")
  return decoded[0]
}

const externalProposalTypes = new Set(["add", "remove", "psk", "reinit", "group_context_extensions"])

// processExternalProposal verifies and records a proposal of the group's
// external sender (the DS's Remove of a departed device), as
// processPublicMessage would do for a member's. ts-mls 1.6.4 cannot: it
// reads the sender's key from the external_senders extension decoded as
// one ExternalSender, and takes sender_index as the index of an extension
// rather than of an entry of the RFC's vector, so it verifies against
// garbage. So the key is taken from our own, RFC-conformant decoding and
// handed to ts-mls's signature check as the key to use; the check itself
// (FramedContentTBS with the group's real GroupContext, RFC 9420 §6.1) and
// the recording of the proposal under its ProposalRef (§5.2) are ts-mls's.
// The state's GroupContext is not touched, so the key schedule, tree hash
// and transcript hashes of the epoch the commit creates are as ts-mls and
// the rest of the group compute them anyway.
export async function processExternalProposal(impl, state, publicMessage) {
  const { content } = publicMessage
  if (publicMessage.senderType !== "external" || content.sender.senderType !== "external") {
    throw new Error(`a proposal from a ${content.sender.senderType} sender, not an external one`)
  }
  if (!equalBytes(content.groupId, state.groupContext.groupId) || content.epoch !== state.groupContext.epoch) {
    throw new Error(`an external proposal for epoch ${content.epoch} of another group or epoch (ours: ${state.groupContext.epoch})`)
  }
  // External senders send proposals, of these types only (RFC 9420 §12.1.8).
  if (content.contentType !== "proposal") throw new Error(`an external sender's ${content.contentType}`)
  const type = content.proposal.proposalType
  if (!externalProposalTypes.has(type)) throw new Error(`an external sender's ${type} proposal`)
  const sender = externalSenders(state.groupContext)[content.sender.senderIndex]
  if (sender === undefined) throw new Error(`no external sender ${content.sender.senderIndex} in the group's external_senders`)
  const authenticated = await unprotectPublicMessage(
    state.keySchedule.membershipKey,
    state.groupContext,
    state.ratchetTree,
    publicMessage,
    impl,
    sender.signaturePublicKey,
  )
  return processProposal(state, authenticated, content.proposal, impl.hash)
}

// groupInfo returns the MLSMessage of the state's GroupInfo, with the
// external_pub and ratchet_tree extensions.
export async function groupInfo(impl, state) {
  const gi = await createGroupInfoWithExternalPubAndRatchetTree(state, [], impl)
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi })
}

// Encoders of MLSMessages.
export const mlsMessage = {
  keyPackage: (keyPackage) => encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage }),
  welcome: (welcome) => encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome }),
  privateMessage: (privateMessage) => encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage }),
  encode: (message) => encodeMlsMessage(message),
}

// decode reads an MLSMessage that must fill bytes and be of wireformat.
export function decode(bytes, wireformat) {
  const res = decodeMlsMessage(bytes, 0)
  if (res === undefined) throw new Error("not an MLSMessage")
  const [message, length] = res
  if (length !== bytes.length) throw new Error(`MLSMessage followed by ${bytes.length - length} more bytes`)
  if (wireformat !== undefined && message.wireformat !== wireformat) {
    throw new Error(`a ${message.wireformat}, not a ${wireformat}`)
  }
  return message
}

// view is what a failure shows of a group state: epoch, tree hash,
// confirmed transcript hash, epoch authenticator and members; and the
// encoded GroupContext (RFC 9420 §8.1), which the tests compare with our
// view's byte for byte.
export function view(state) {
  if (state === undefined) return { member: false }
  const decoder = new TextDecoder()
  return {
    epoch: Number(state.groupContext.epoch),
    tree_hash: hex(state.groupContext.treeHash),
    confirmed_transcript_hash: hex(state.groupContext.confirmedTranscriptHash),
    group_context: hex(encodeGroupContext(state.groupContext)),
    epoch_authenticator: hex(state.keySchedule.epochAuthenticator),
    own_leaf: state.privatePath.leafIndex,
    members: state.ratchetTree.flatMap((node, i) =>
      node?.nodeType === "leaf" ? [{ leaf: i / 2, identity: decoder.decode(node.leaf.credential.identity) }] : [],
    ),
  }
}
