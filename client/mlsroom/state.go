package mlsroom

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
)

// pastEpochs is how many earlier epochs a device keeps, to decrypt room
// messages that arrive after the commit that ended their epoch (the room
// timeline and the DS's to-device messages are not ordered together).
const pastEpochs = 3

// State is a device's view of one room's group, as the client stores it.
// Its zero value is "not in the group".
type State struct {
	// Epoch and Group: the current epoch and the member view
	// (group.Group.MarshalBinary); Group is nil when not a member.
	Epoch uint64 `json:"epoch"`
	Group []byte `json:"group,omitempty"`
	// Past are earlier epochs' member views, newest last, for late
	// messages only.
	Past []Past `json:"past,omitempty"`
	// Pending is this device's commit awaiting the DS's answer.
	Pending *Pending `json:"pending,omitempty"`
}

// Past is the member view of an earlier epoch.
type Past struct {
	Epoch uint64 `json:"epoch"`
	Group []byte `json:"group"`
}

// Pending is a commit the device sent (or is about to send) to the DS:
// its group becomes current when the DS's m.mls.commit for it arrives.
type Pending struct {
	// Message is the MLSMessage of the commit; GroupInfo the new epoch's
	// GroupInfo; Welcome the MLSMessage of the Welcome, if any.
	Message   []byte `json:"message"`
	GroupInfo []byte `json:"group_info"`
	Welcome   []byte `json:"welcome,omitempty"`
	// Epoch and Group: the epoch the commit creates and the member view
	// in it.
	Epoch uint64 `json:"epoch"`
	Group []byte `json:"group"`
	// Added and Removed are the devices the commit adds and removes.
	Added   []Device `json:"added,omitempty"`
	Removed []Device `json:"removed,omitempty"`
}

// Member reports whether the device is in the group.
func (s *State) Member() bool { return s.Group != nil }

func (s *State) load() (*group.Group, error) {
	if s.Group == nil {
		return nil, ErrNotMember
	}
	return group.LoadGroup(s.Group, config)
}

// save stores g as the current epoch.
func (s *State) save(g *group.Group) error {
	b, err := g.MarshalBinary()
	if err != nil {
		return err
	}
	s.Group, s.Epoch = b, g.Epoch()
	return nil
}

// advance makes next (of epoch) current and files the current epoch among
// the past ones.
func (s *State) advance(next []byte, epoch uint64) {
	if s.Group != nil {
		s.Past = append(s.Past, Past{Epoch: s.Epoch, Group: s.Group})
		if extra := len(s.Past) - pastEpochs; extra > 0 {
			s.Past = slices.Delete(s.Past, 0, extra)
		}
	}
	s.Group, s.Epoch = next, epoch
}

// Create makes the group of roomID with this device as its only member and
// the DS (externalSender, an encoded ExternalSender) as external sender,
// and returns the state and the epoch-0 GroupInfo (an MLSMessage, with the
// ratchet tree) to send to the DS.
func Create(id *Identity, roomID string, externalSender []byte) (*State, []byte, error) {
	suite, err := id.suite()
	if err != nil {
		return nil, nil, err
	}
	var sender mls.ExternalSender
	if err = codec.Unmarshal(externalSender, &sender); err != nil {
		return nil, nil, fmt.Errorf("mlsroom: the DS's external sender: %w", err)
	}
	g, err := group.NewGroup(suite, []byte(roomID), id.member(), group.CreateOptions{
		Extensions: mls.Extensions{mls.NewExtension(mls.ExternalSenders{sender})},
		Config:     config,
	})
	if err != nil {
		return nil, nil, err
	}
	gi, err := g.GroupInfo(group.GroupInfoOptions{})
	if err != nil {
		return nil, nil, err
	}
	s := &State{}
	if err = s.save(g); err != nil {
		return nil, nil, err
	}
	return s, codec.Marshal(mls.NewGroupInfo(gi)), nil
}

// CommitRequest says what a commit does. Every proposal received in the
// epoch (the DS's Removes among them) is covered too.
type CommitRequest struct {
	// Add are claimed KeyPackages (MLSMessages) of devices to add.
	Add [][]byte
	// Remove are devices to remove.
	Remove []Device
	// AAD is the commit's authenticated_data (the profile's m.mls.aad for
	// membership changes).
	AAD []byte
}

// ErrPending: the device already has a commit awaiting the DS's answer.
var ErrPending = errors.New("a commit of this device awaits the Delivery Service's answer")

// Commit creates a commit and records it as Pending; the current epoch is
// unchanged until the DS accepts it (Accept, through HandleCommit).
func (s *State) Commit(req CommitRequest) (*Pending, error) {
	if s.Pending != nil {
		return nil, ErrPending
	}
	g, err := s.load()
	if err != nil {
		return nil, err
	}
	opts := group.CommitOptions{MessageOptions: group.MessageOptions{AuthenticatedData: req.AAD}}
	for _, m := range req.Add {
		kp, err := decodeKeyPackage(m)
		if err != nil {
			return nil, err
		}
		opts.Adds = append(opts.Adds, kp)
	}
	for _, d := range req.Remove {
		leaf, ok := findDevice(g.Public(), d)
		if !ok {
			return nil, fmt.Errorf("mlsroom: %s is not in the group", d)
		}
		opts.Removes = append(opts.Removes, leaf)
	}
	pc, err := g.Commit(opts)
	if err != nil {
		return nil, err
	}
	p := &Pending{
		Message:   codec.Marshal(pc.Message),
		GroupInfo: codec.Marshal(mls.NewGroupInfo(pc.GroupInfo)),
	}
	if pc.Welcome != nil {
		p.Welcome = codec.Marshal(mls.NewWelcome(pc.Welcome))
	}
	p.Added, p.Removed = devices(pc.Public().Added()), devices(pc.Public().Removed())
	if err = g.Merge(pc.StagedCommit); err != nil {
		return nil, err
	}
	if p.Group, err = g.MarshalBinary(); err != nil {
		return nil, err
	}
	p.Epoch = g.Epoch()
	s.Pending = p
	return p, nil
}

// JoinExternal prepares joining the group by external commit from the
// GroupInfo (an MLSMessage) the DS serves, with aad as authenticated data.
// When the device is in the group already (its state was lost), its old
// leaf is removed by the same commit. The returned state is not a member
// until the DS accepts the commit in its Pending.
func JoinExternal(id *Identity, groupInfo, aad []byte) (*State, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(groupInfo, &m); err != nil || m.WireFormat != mls.WireFormatGroupInfo {
		return nil, fmt.Errorf("mlsroom: the DS's group_info is not a GroupInfo (%v)", err)
	}
	opts := group.ExternalJoinOptions{AuthenticatedData: aad, Config: config}
	pub, err := group.NewPublicGroup(m.GroupInfo, nil, config)
	if err != nil {
		return nil, err
	}
	if leaf, ok := findDevice(pub, id.Device); ok {
		opts.Resync = &leaf
	}
	g, pc, err := group.JoinExternal(m.GroupInfo, id.member(), opts)
	if err != nil {
		return nil, err
	}
	p := &Pending{
		Message:   codec.Marshal(pc.Message),
		GroupInfo: codec.Marshal(mls.NewGroupInfo(pc.GroupInfo)),
		Epoch:     g.Epoch(),
		Added:     []Device{id.Device},
		Removed:   devices(pc.Public().Removed()),
	}
	if p.Group, err = g.MarshalBinary(); err != nil {
		return nil, err
	}
	return &State{Epoch: m.GroupInfo.GroupContext.Epoch, Pending: p}, nil
}

// Join enters the group from a Welcome (an MLSMessage) for one of the
// device's KeyPackages, and returns the state and the ID of the KeyPackage
// used.
func Join(id *Identity, welcome []byte, keyPackages []*KeyPackage) (*State, string, error) {
	var m mls.MLSMessage
	if err := codec.Unmarshal(welcome, &m); err != nil || m.WireFormat != mls.WireFormatWelcome {
		return nil, "", fmt.Errorf("mlsroom: not a Welcome (%v)", err)
	}
	for _, kp := range keyPackages {
		ref, err := hex.DecodeString(kp.ID)
		if err != nil || m.Welcome.SecretsFor(ref) == nil {
			continue
		}
		b, err := kp.bundle()
		if err != nil {
			return nil, "", err
		}
		g, err := group.Join(m.Welcome, b, id.member(), group.JoinOptions{Config: config})
		if err != nil {
			return nil, "", err
		}
		s := &State{}
		return s, kp.ID, s.save(g)
	}
	return nil, "", ErrNoKeyPackage
}

// ErrNoKeyPackage: a Welcome is for none of the device's KeyPackages.
var ErrNoKeyPackage = errors.New("the Welcome is for none of this device's KeyPackages")

// Change is what a commit did.
type Change struct {
	Epoch     uint64
	Committer Device
	Added     []Device
	Removed   []Device
	// Own is set when the commit is this device's pending one.
	Own bool
	// Lost is this device's pending commit that another commit beat; it
	// was dropped and must be made again for the new epoch.
	Lost *Pending
	// SelfRemoved is set when the commit removed this device.
	SelfRemoved bool
}

// ErrGap: a commit is for a later epoch than the next one; the commits in
// between must be handled first (they are in the DS's log).
var ErrGap = errors.New("commits are missing before this one")

// ErrStale: a commit for an epoch the device has already passed.
var ErrStale = errors.New("the commit is for an epoch this device has passed")

// HandleCommit applies a commit the DS accepted, creating epoch (as
// m.mls.commit and the DS's log give it).
func (s *State) HandleCommit(message []byte, epoch uint64) (*Change, error) {
	if p := s.Pending; p != nil && bytes.Equal(message, p.Message) {
		s.Pending = nil
		s.advance(p.Group, p.Epoch)
		return &Change{Epoch: p.Epoch, Own: true, Added: p.Added, Removed: p.Removed}, nil
	}
	switch {
	case s.Group == nil:
		return nil, ErrNotMember
	case epoch <= s.Epoch:
		return nil, ErrStale
	case epoch > s.Epoch+1:
		return nil, fmt.Errorf("%w (commit for epoch %d, device at %d)", ErrGap, epoch, s.Epoch)
	}
	g, err := s.load()
	if err != nil {
		return nil, err
	}
	var m mls.MLSMessage
	if err = codec.Unmarshal(message, &m); err != nil {
		return nil, fmt.Errorf("mlsroom: not an MLSMessage: %w", err)
	}
	out, err := g.Process(&m)
	if err != nil {
		return nil, err
	}
	if out.Commit == nil {
		return nil, fmt.Errorf("mlsroom: the message is not a commit")
	}
	pc := out.Commit.Public()
	c := &Change{
		Epoch:       epoch,
		Added:       devices(pc.Added()),
		Removed:     devices(pc.Removed()),
		SelfRemoved: out.Commit.SelfRemoved(),
	}
	if d, err := DeviceOf(&pc.Committer().Node.Credential); err == nil {
		c.Committer = d
	}
	if err = g.Merge(out.Commit); err != nil {
		return nil, err
	}
	c.Lost, s.Pending = s.Pending, nil
	if c.SelfRemoved {
		s.advance(nil, epoch)
		return c, nil
	}
	next, err := g.MarshalBinary()
	if err != nil {
		return nil, err
	}
	s.advance(next, g.Epoch())
	return c, nil
}

// Drop forgets the pending commit (the DS refused it).
func (s *State) Drop() *Pending {
	p := s.Pending
	s.Pending = nil
	return p
}

// HandleProposal records a proposal the DS accepted (such as its own
// Remove of a device whose user left), for the next commit to cover.
func (s *State) HandleProposal(message []byte) error {
	g, err := s.load()
	if err != nil {
		return err
	}
	var m mls.MLSMessage
	if err = codec.Unmarshal(message, &m); err != nil {
		return err
	}
	if _, epoch, ok := m.GroupEpoch(); ok && epoch != s.Epoch {
		return fmt.Errorf("%w (proposal of epoch %d, device at %d)", ErrStale, epoch, s.Epoch)
	}
	out, err := g.Process(&m)
	if err != nil {
		return err
	}
	if out.Proposal == nil {
		return fmt.Errorf("mlsroom: the message is not a proposal")
	}
	return s.save(g)
}

// PendingProposals is how many received proposals the next commit covers.
func (s *State) PendingProposals() (int, error) {
	g, err := s.load()
	if err != nil {
		return 0, err
	}
	return len(g.Public().Proposals()), nil
}

// Members lists the devices in the group.
func (s *State) Members() ([]Device, error) {
	g, err := s.load()
	if err != nil {
		return nil, err
	}
	var out []Device
	for m := range g.Public().Members() {
		if d, err := DeviceOf(&m.Node.Credential); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

func findDevice(g *group.PublicGroup, d Device) (group.LeafIndex, bool) {
	for m := range g.Members() {
		if bytes.Equal(m.Node.Credential.Identity, d.credentialIdentity()) {
			return m.Leaf, true
		}
	}
	return 0, false
}

func devices(members []group.Member) []Device {
	var out []Device
	for _, m := range members {
		if d, err := DeviceOf(&m.Node.Credential); err == nil {
			out = append(out, d)
		}
	}
	return out
}
