// Package roomserver holds our extensions of Dendrite's roomserver: the
// room version of MSC4244 and a decorator around Dendrite's roomserver API
// that every other component talks to.
package roomserver

// RoomVersion is the identifier of the MSC4244 room version.
const RoomVersion = "org.matrix.msc4244"

// RegisterRoomVersion makes the room version org.matrix.msc4244 known to
// gomatrixserverlib. cmd/dendrite calls it before the configuration is loaded
// and before any component is built, because gomatrixserverlib looks room
// versions up in a process-wide map.
//
// The body is filled by the mlsds issue (see
// /work/shared/design/dendrite-seams.md, "Room version org.matrix.msc4244").
func RegisterRoomVersion() {}
