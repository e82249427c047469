// Package mlsauthtest makes the mls_commit values tests put into member
// events: commits that are well-formed MLS but signed by nobody, since the
// membership rule reads only their group, sender type and AAD.
package mlsauthtest

import (
	"encoding/base64"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/roomserver/mlsauth"
)

// Commit returns the content.mls_commit value of an empty commit of group
// roomID from a sender of type sender, whose authenticated data is aad.
func Commit(roomID string, sender mls.SenderType, aad []byte) string {
	pub := &mls.PublicMessage{
		Content: mls.FramedContent{
			GroupID:           []byte(roomID),
			Epoch:             1,
			Sender:            mls.Sender{Type: sender},
			AuthenticatedData: aad,
			Content:           mls.Content{ContentType: mls.ContentCommit, Commit: &mls.Commit{}},
		},
		Auth: mls.FramedContentAuthData{Signature: make([]byte, 64), ConfirmationTag: make([]byte, 32)},
	}
	if sender == mls.SenderMember {
		pub.MembershipTag = make([]byte, 32)
	}
	return base64.RawStdEncoding.EncodeToString(codec.Marshal(mls.NewPublicMessage(pub)))
}

// InviteCommit returns the mls_commit of an invite of target whose AAD
// names authEvents.
func InviteCommit(roomID, target string, authEvents map[string]string) string {
	aad := &mlsauth.AAD{Action: mlsauth.ActionInvite, Target: target, AuthEvents: authEvents}
	return Commit(roomID, mls.SenderMember, aad.Marshal())
}

// JoinCommit returns the mls_commit of an external commit by which target
// joins, whose AAD names authEvents.
func JoinCommit(roomID, target string, authEvents map[string]string) string {
	aad := &mlsauth.AAD{Action: mlsauth.ActionJoin, Target: target, AuthEvents: authEvents}
	return Commit(roomID, mls.SenderNewMemberCommit, aad.Marshal())
}
