package internal

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
)

// When a user leaves an MLS room, is kicked or banned, the DS removes the
// user's devices from the room's group (docs/membership.md); when a device
// is deleted from its account (logged out, deleted, the account
// deactivated), the DS removes that device from the groups it is in, where
// path secrets would otherwise still be encrypted to its keys. Either way it
// proposes, as the group's external sender, a Remove of each leaf, logs and
// fans the proposals out, and requires the next commit to cover them; the
// group's public view refuses any commit that does not, with
// M_MLS_PENDING_REMOVALS.

// RemoveUser proposes the removal of every device of userID from roomID's
// group, one logged and fanned-out proposal per device. A room without a
// group, a user without devices in it, and devices whose removal is already
// proposed need nothing.
func (ds *DeliveryService) RemoveUser(ctx context.Context, roomID, userID string) error {
	return ds.removeDevices(ctx, roomID, removal{
		reason: reasonDeparture,
		match:  func(d api.Device) bool { return d.UserID == userID },
	})
}

// RemoveDevice proposes the removal of device's leaves from roomID's group,
// as RemoveUser does for all of a user's devices.
func (ds *DeliveryService) RemoveDevice(ctx context.Context, roomID string, device api.Device) error {
	return ds.removeDevices(ctx, roomID, removal{
		reason: reasonDeletedDevice,
		match:  func(d api.Device) bool { return d == device },
	})
}

// removal describes the devices the DS removes from a group.
type removal struct {
	// reason labels the removals in the DS's metrics.
	reason string
	match  func(api.Device) bool
}

// removeDevices proposes, one at a time, the removal of each leaf of
// roomID's group whose device rm matches.
func (ds *DeliveryService) removeDevices(ctx context.Context, roomID string, rm removal) error {
	for {
		var proposed bool
		in := &incoming{sender: ds.self, received: ds.now(), roomID: roomID}
		err := ds.accept(ctx, in, func(ctx context.Context, r *room, in *incoming) (*fanOut, error) {
			f, err := ds.proposeRemoval(ctx, r, in, rm)
			proposed = f != nil
			return f, err
		})
		var rej *rejection
		if errors.As(err, &rej) && rej.code == api.ErrUnknownGroup {
			return nil
		}
		if err != nil || !proposed {
			return err
		}
		removalsTotal.WithLabelValues(rm.reason).Inc()
	}
}

// proposeRemoval proposes the removal of the first leaf of a matching
// device whose removal the group does not hold yet, and returns its
// fan-out; nil when there is none. It runs with r.validation held and
// r.group loaded.
func (ds *DeliveryService) proposeRemoval(ctx context.Context, r *room, in *incoming, rm removal) (*fanOut, error) {
	g, ok := r.group.(*publicGroup)
	if !ok {
		return nil, fmt.Errorf("mlsds: the group view %T cannot hold the DS's proposals", r.group)
	}
	leaf, found := g.unremovedLeaf(rm.match)
	if !found {
		return nil, nil
	}
	signer, index, err := ds.identity.externalSigner(g.g)
	if err != nil {
		return nil, err
	}
	proposal := &mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: leaf}}
	msg, err := group.NewExternalProposal(signer, g.g.Context(), index, proposal, nil)
	if err != nil {
		return nil, err
	}
	next := g.g.Clone()
	recorded, err := next.ProcessProposal(msg)
	if err != nil {
		return nil, fmt.Errorf("mlsds: the DS's own Remove proposal is invalid: %w", err)
	}
	next.Require(recorded.Ref)
	in.raw = codec.Marshal(mls.NewPublicMessage(msg))
	members, err := devicesOf(g.Members())
	if err != nil {
		return nil, err
	}
	epoch := g.Epoch()
	f := &fanOut{}
	f.add(api.EventProposal, api.ProposalContent{RoomID: in.roomID, Epoch: epoch, Message: encodeBase64(in.raw), Sender: ds.self}, members)
	if err = ds.append(ctx, r, in, epoch, &publicGroup{g: next}, nil, api.KindProposal, f); err != nil {
		return nil, err
	}
	return f, nil
}

// unremovedLeaf returns a leaf of a matching device whose removal the
// group holds no required proposal for.
func (p *publicGroup) unremovedLeaf(match func(api.Device) bool) (uint32, bool) {
	proposed := map[uint32]bool{}
	for _, prop := range p.g.Proposals() {
		if prop.Required && prop.Proposal.Type == mls.ProposalRemove {
			proposed[prop.Proposal.Remove.Removed] = true
		}
	}
	for _, m := range p.Members() {
		d, err := deviceOf(m.Credential)
		if err == nil && match(d) && !proposed[m.Leaf] {
			return m.Leaf, true
		}
	}
	return 0, false
}

// externalSigner returns the DS's signer in the group's cipher suite and
// the DS's index in the group's external_senders extension.
func (id *Identity) externalSigner(g *group.PublicGroup) (*cipher.Signer, uint32, error) {
	suite := g.Context().CipherSuite
	if !id.Supports(suite) {
		return nil, 0, fmt.Errorf("mlsds: no DS key for cipher suite %v", suite)
	}
	want := id.ExternalSender(suite)
	for i, s := range g.ExternalSenders() {
		if bytes.Equal(s.SignatureKey, want.SignatureKey) && s.Credential.Type == want.Credential.Type &&
			bytes.Equal(s.Credential.Identity, want.Credential.Identity) {
			return id.keys[suite].signer, uint32(i), nil
		}
	}
	return nil, 0, errors.New("mlsds: the group's external_senders does not list this DS")
}
