package mlsroom

import (
	"errors"
	"fmt"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// Encrypt protects a room message's plaintext as a PrivateMessage of the
// current epoch (with empty authenticated data, as the profile says) and
// returns its MLSMessage.
func (s *State) Encrypt(plaintext []byte) ([]byte, error) {
	g, err := s.load()
	if err != nil {
		return nil, err
	}
	m, err := g.Encrypt(plaintext, nil, 0)
	if err != nil {
		return nil, err
	}
	// The sender's ratchet moved: store it before the message leaves.
	if err = s.save(g); err != nil {
		return nil, err
	}
	return codec.Marshal(m), nil
}

// Decrypted is a room message's plaintext and who sent it.
type Decrypted struct {
	Plaintext []byte
	Sender    Device
	Epoch     uint64
}

// ErrFutureEpoch: a message of an epoch the device has not reached yet;
// try again after the commits that lead there.
var ErrFutureEpoch = errors.New("the message is from an epoch this device has not reached yet")

// ErrEpochGone: a message of an epoch whose keys this device does not have
// (before it joined, before it recovered, or too old).
var ErrEpochGone = errors.New("this device has no keys for the message's epoch")

// Decrypt opens a PrivateMessage (an MLSMessage) with the keys of its
// epoch: the current one or a kept past one.
func (s *State) Decrypt(message []byte) (*Decrypted, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(message, &m); err != nil {
		return nil, fmt.Errorf("mlsroom: not an MLSMessage: %w", err)
	}
	if m.WireFormat != mls.WireFormatPrivateMessage {
		return nil, fmt.Errorf("mlsroom: a room message must be a PrivateMessage, not a %v", m.WireFormat)
	}
	epoch := m.PrivateMessage.Epoch
	state := &s.Group
	switch {
	case s.Group == nil && s.Pending == nil:
		return nil, ErrNotMember
	case epoch > s.Epoch || (s.Group == nil && epoch >= s.Epoch):
		return nil, fmt.Errorf("%w (epoch %d, device at %d)", ErrFutureEpoch, epoch, s.Epoch)
	case epoch < s.Epoch:
		state = nil
		for i := range s.Past {
			if s.Past[i].Epoch == epoch {
				state = &s.Past[i].Group
			}
		}
		if state == nil || *state == nil {
			return nil, fmt.Errorf("%w (epoch %d)", ErrEpochGone, epoch)
		}
	}
	if *state == nil {
		return nil, fmt.Errorf("%w (epoch %d)", ErrEpochGone, epoch)
	}
	g, err := group.LoadGroup(*state, config)
	if err != nil {
		return nil, err
	}
	out, err := g.Process(&m)
	if err != nil {
		return nil, err
	}
	if out.Application == nil {
		return nil, fmt.Errorf("mlsroom: a room message must carry application data")
	}
	leaf := g.Public().Member(group.LeafIndex(out.Sender.Index))
	if out.Sender.Type != mls.SenderMember || leaf == nil {
		return nil, fmt.Errorf("mlsroom: a room message from a non-member")
	}
	sender, err := DeviceOf(&leaf.Credential)
	if err != nil {
		return nil, err
	}
	// The receiving ratchet moved (its key is deleted): store it.
	if *state, err = g.MarshalBinary(); err != nil {
		return nil, err
	}
	return &Decrypted{Plaintext: out.Application, Sender: sender, Epoch: epoch}, nil
}

// AuthenticatedData returns the authenticated_data of a PublicMessage (an
// MLSMessage), such as the profile's m.mls.aad of a membership commit.
func AuthenticatedData(message []byte) ([]byte, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(message, &m); err != nil {
		return nil, fmt.Errorf("mlsroom: not an MLSMessage: %w", err)
	}
	if m.WireFormat != mls.WireFormatPublicMessage {
		return nil, fmt.Errorf("mlsroom: a %v, not a PublicMessage", m.WireFormat)
	}
	return m.PublicMessage.Content.AuthenticatedData, nil
}
