// Package group keeps the state of an MLS group (RFC 9420 §11-§14) in two
// views, the second built on the first:
//
//   - PublicGroup is the group as a non-member sees it: the ratchet tree,
//     the GroupContext, the transcript hashes and the proposals of the
//     epoch, without any secret. The Delivery Service uses it to decide
//     whether a PublicMessage commit or proposal is valid and what the group
//     looks like after it.
//   - Group is a member's view: a PublicGroup plus the member's private
//     keys, the epoch's secrets and secret tree. It creates and processes
//     commits and proposals, welcomes and joins, and protects application
//     messages.
//
// Changing the epoch is always staged (§14): staging a commit, whether
// created or received, validates it completely and computes the next
// epoch without touching the group; Merge makes the staged epoch current.
// A member merges its own commit only once the Delivery Service accepted
// it, and otherwise simply drops it.
//
// Every rejection wraps a *Rule naming the RFC 9420 rule it broke (see
// RuleOf). Both views serialise to a compact versioned binary state
// (PublicGroup.MarshalBinary, Group.MarshalBinary) for storage.
//
// Neither view is safe for concurrent use.
package group
