package mls_test

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// build returns the bytes f writes.
func build(f func(b *cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	f(&b)
	return b.BytesOrPanic()
}

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	testCred = mls.Credential{Type: mls.CredentialBasic, Identity: []byte("@alice:example.org|DEVICE")}
	testCaps = mls.Capabilities{
		Versions:     []mls.ProtocolVersion{mls.MLS10},
		CipherSuites: []mls.CipherSuite{mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, 0x0a0a},
		Credentials:  []mls.CredentialType{mls.CredentialBasic},
	}
)

// testLeaf returns a syntactically valid leaf node from src.
func testLeaf(src mls.LeafNodeSource) mls.LeafNode {
	leaf := mls.LeafNode{
		EncryptionKey: testKey,
		SignatureKey:  testKey,
		Credential:    testCred,
		Capabilities:  testCaps,
		Source:        src,
		Extensions:    mls.Extensions{{Type: 0xff00, Data: []byte{}}},
		Signature:     []byte("signature"),
	}
	switch src {
	case mls.LeafNodeSourceKeyPackage:
		leaf.Lifetime = mls.Lifetime{NotBefore: 1, NotAfter: 1 << 40}
	case mls.LeafNodeSourceCommit:
		leaf.ParentHash = []byte{}
	}
	return leaf
}

// testKeyPackage returns a syntactically valid key package.
func testKeyPackage() *mls.KeyPackage {
	return &mls.KeyPackage{
		Version:     mls.MLS10,
		CipherSuite: mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
		InitKey:     testKey,
		LeafNode:    testLeaf(mls.LeafNodeSourceKeyPackage),
		Signature:   []byte("signature"),
	}
}

// enumCase encodes a structure around one enum value; valid values must
// decode and round-trip, invalid ones must fail with ErrInvalidValue.
type enumCase struct {
	name    string
	build   func(v uint16) []byte
	decode  func() wireValue
	valid   []uint16
	invalid []uint16
}

// leafWithSource encodes a leaf node whose source octet is v and which has
// no lifetime or parent hash, so that only v=update is valid.
func leafWithSource(v uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		codec.AddOpaque(b, testKey)
		codec.AddOpaque(b, testKey)
		testCred.MarshalMLS(b)
		testCaps.MarshalMLS(b)
		b.AddUint8(uint8(v))
		codec.AddVarint(b, 0) // extensions
		codec.AddOpaque(b, []byte("signature"))
	})
}

// credentialOfType encodes a credential of type v whose body is one opaque,
// valid for basic and, read as an empty certificate list, for x509.
func credentialOfType(v uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16(v)
		codec.AddOpaque(b, nil)
	})
}

// nodeOfType encodes a node of type v whose body is a parent node.
func nodeOfType(v uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint8(uint8(v))
		(&mls.ParentNode{EncryptionKey: testKey, ParentHash: []byte{}, UnmergedLeaves: []uint32{1, 3}}).MarshalMLS(b)
	})
}

// publicMessage encodes a PublicMessage with sender type octet sender
// (index 1) and content type octet ct around an empty commit, so that it is
// valid for a member's commit.
func publicMessage(sender, ct uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		codec.AddOpaque(b, []byte("group"))
		b.AddUint64(7)
		b.AddUint8(uint8(sender))
		b.AddUint32(1)
		codec.AddOpaque(b, nil) // authenticated_data
		b.AddUint8(uint8(ct))
		(&mls.Commit{}).MarshalMLS(b)
		codec.AddOpaque(b, []byte("signature"))
		codec.AddOpaque(b, []byte("confirmation tag"))
		codec.AddOpaque(b, []byte("membership tag"))
	})
}

// messageHeader encodes an MLSMessage of version v and wire format wf
// around a key package.
func messageHeader(v, wf uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16(v)
		b.AddUint16(wf)
		testKeyPackage().MarshalMLS(b)
	})
}

// proposalOfType encodes a proposal of type v whose body is one opaque,
// which parses as an ExternalInit.
func proposalOfType(v uint16) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16(v)
		codec.AddOpaque(b, []byte("kem output"))
	})
}

// pskID encodes a resumption PreSharedKeyID with type octet typ and usage
// octet usage.
func pskID(typ, usage uint8) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint8(typ)
		b.AddUint8(usage)
		codec.AddOpaque(b, []byte("group"))
		b.AddUint64(3)
		codec.AddOpaque(b, []byte("nonce"))
	})
}

func enumCases() []enumCase {
	return []enumCase{
		{"ProtocolVersion of MLSMessage", func(v uint16) []byte { return messageHeader(v, 5) }, func() wireValue { return new(mls.MLSMessage) }, []uint16{1}, []uint16{0, 2, 0xffff}},
		{"WireFormat", func(v uint16) []byte { return messageHeader(1, v) }, func() wireValue { return new(mls.MLSMessage) }, []uint16{5}, []uint16{0, 6, 0xffff}},
		{"SenderType", func(v uint16) []byte { return publicMessage(v, 3) }, func() wireValue { return new(mls.PublicMessage) }, []uint16{1}, []uint16{0, 5, 255}},
		{"ContentType", func(v uint16) []byte { return publicMessage(1, v) }, func() wireValue { return new(mls.PublicMessage) }, []uint16{3}, []uint16{0, 4, 255}},
		{"ContentType of PrivateMessage", func(v uint16) []byte {
			return codec.Marshal(&mls.PrivateMessage{GroupID: []byte("g"), ContentType: mls.ContentType(v)})
		}, func() wireValue { return new(mls.PrivateMessage) }, []uint16{1, 2, 3}, []uint16{0, 4, 255}},
		{"ProposalType", proposalOfType, func() wireValue { return new(mls.Proposal) }, []uint16{6}, []uint16{0, 8, 0x0a0a, 0xffff}},
		{"ProposalOrRefType", func(v uint16) []byte {
			return build(func(b *cryptobyte.Builder) {
				b.AddUint8(uint8(v))
				codec.AddOpaque(b, []byte("proposal ref"))
			})
		}, func() wireValue { return new(mls.ProposalOrRef) }, []uint16{2}, []uint16{0, 3, 255}},
		{"PSKType", func(v uint16) []byte { return pskID(uint8(v), 1) }, func() wireValue { return new(mls.PreSharedKeyID) }, []uint16{2}, []uint16{0, 3, 255}},
		{"ResumptionPSKUsage", func(v uint16) []byte { return pskID(2, uint8(v)) }, func() wireValue { return new(mls.PreSharedKeyID) }, []uint16{1, 2, 3}, []uint16{0, 4, 255}},
		{"CredentialType", credentialOfType, func() wireValue { return new(mls.Credential) }, []uint16{1, 2}, []uint16{0, 3, 0xffff}},
		{"LeafNodeSource", leafWithSource, func() wireValue { return new(mls.LeafNode) }, []uint16{2}, []uint16{0, 4, 255}},
		{"NodeType", nodeOfType, func() wireValue { return new(mls.Node) }, []uint16{2}, []uint16{0, 3, 255}},
		{"optional<Node>", func(v uint16) []byte {
			return build(func(b *cryptobyte.Builder) {
				codec.AddVector(b, func(b *cryptobyte.Builder) { b.AddUint8(uint8(v)); b.AddBytes(nodeOfType(2)) })
			})
		}, func() wireValue { return new(mls.RatchetTree) }, []uint16{1}, []uint16{2, 255}},
	}
}

func TestOutOfRangeEnums(t *testing.T) {
	for _, c := range enumCases() {
		for _, v := range c.valid {
			roundTrip(t, fmt.Sprintf("%s %d", c.name, v), c.build(v), c.decode())
		}
		for _, v := range c.invalid {
			if err := codec.Unmarshal(c.build(v), c.decode()); !errors.Is(err, codec.ErrInvalidValue) {
				t.Errorf("%s %d: got %v, want ErrInvalidValue", c.name, v, err)
			}
		}
	}
}

// testCommit returns a commit with one proposal of each type, a reference
// and a path.
func testCommit() *mls.Commit {
	gce := mls.Extensions{mls.NewExtension(&mls.ExternalPub{ExternalPub: testKey})}
	proposals := []mls.Proposal{
		{Type: mls.ProposalAdd, Add: &mls.Add{KeyPackage: *testKeyPackage()}},
		{Type: mls.ProposalUpdate, Update: &mls.Update{LeafNode: testLeaf(mls.LeafNodeSourceUpdate)}},
		{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 9}},
		{Type: mls.ProposalPSK, PreSharedKey: &mls.PreSharedKey{PSK: mls.PreSharedKeyID{
			Type: mls.PSKResumption, Usage: mls.ResumptionBranch, PSKGroupID: []byte("g"), PSKEpoch: 4, PSKNonce: testKey}}},
		{Type: mls.ProposalReInit, ReInit: &mls.ReInit{GroupID: []byte("g2"), Version: mls.MLS10, CipherSuite: 7, Extensions: gce}},
		{Type: mls.ProposalExternalInit, ExternalInit: &mls.ExternalInit{KEMOutput: testKey}},
		{Type: mls.ProposalGroupContextExtensions, GroupContextExtensions: &mls.GroupContextExtensions{Extensions: gce}},
	}
	c := &mls.Commit{Path: &mls.UpdatePath{
		LeafNode: testLeaf(mls.LeafNodeSourceCommit),
		Nodes: []mls.UpdatePathNode{{EncryptionKey: testKey, EncryptedPathSecret: []mls.HPKECiphertext{
			{KEMOutput: testKey, Ciphertext: []byte("ciphertext")},
		}}},
	}}
	for _, p := range proposals {
		c.Proposals = append(c.Proposals, mls.ProposalOrRef{Type: mls.ProposalOrRefProposal, Proposal: p})
	}
	c.Proposals = append(c.Proposals, mls.ProposalOrRef{Type: mls.ProposalOrRefReference, Reference: testKey})
	return c
}

// testGroupContext returns a group context with one extension.
func testGroupContext() *mls.GroupContext {
	return &mls.GroupContext{
		Version: mls.MLS10, CipherSuite: 1, GroupID: []byte("!room:example.org"), Epoch: 5,
		TreeHash: testKey, ConfirmedTranscriptHash: testKey,
		Extensions: mls.Extensions{mls.NewExtension(&mls.RequiredCapabilities{ProposalTypes: []mls.ProposalType{0xff01}})},
	}
}

// framingCases are valid encodings with a fresh destination each.
func framingCases() []struct {
	name   string
	data   []byte
	decode func() wireValue
} {
	tree := mls.RatchetTree{{Leaf: ptr(testLeaf(mls.LeafNodeSourceCommit))}, {}, {Leaf: ptr(testLeaf(mls.LeafNodeSourceUpdate))}}
	public := &mls.PublicMessage{
		Content: mls.FramedContent{GroupID: []byte("g"), Epoch: 5, Sender: mls.Sender{Type: mls.SenderMember, Index: 2},
			AuthenticatedData: []byte{}, Content: mls.Content{ContentType: mls.ContentCommit, Commit: testCommit()}},
		Auth:          mls.FramedContentAuthData{Signature: testKey, ConfirmationTag: testKey},
		MembershipTag: testKey,
	}
	private := &mls.PrivateMessage{GroupID: []byte("g"), Epoch: 5, ContentType: mls.ContentApplication,
		EncryptedSenderData: testKey, Ciphertext: testKey}
	welcome := &mls.Welcome{CipherSuite: 1, EncryptedGroupInfo: testKey, Secrets: []mls.EncryptedGroupSecrets{
		{NewMember: testKey, EncryptedGroupSecrets: mls.HPKECiphertext{KEMOutput: testKey, Ciphertext: testKey}},
	}}
	groupInfo := &mls.GroupInfo{GroupContext: *testGroupContext(), Extensions: mls.Extensions{mls.NewExtension(tree)},
		ConfirmationTag: testKey, Signer: 2, Signature: testKey}
	secrets := &mls.GroupSecrets{JoinerSecret: testKey, PathSecret: &mls.PathSecret{PathSecret: testKey},
		PSKs: []mls.PreSharedKeyID{{Type: mls.PSKExternal, PSKID: []byte("id"), PSKNonce: testKey}}}
	return []struct {
		name   string
		data   []byte
		decode func() wireValue
	}{
		{"KeyPackage", codec.Marshal(mls.NewKeyPackage(testKeyPackage())), func() wireValue { return new(mls.MLSMessage) }},
		{"RatchetTree", codec.Marshal(tree), func() wireValue { return new(mls.RatchetTree) }},
		{"PublicMessage", codec.Marshal(mls.NewPublicMessage(public)), func() wireValue { return new(mls.MLSMessage) }},
		{"PrivateMessage", codec.Marshal(mls.NewPrivateMessage(private)), func() wireValue { return new(mls.MLSMessage) }},
		{"Welcome", codec.Marshal(mls.NewWelcome(welcome)), func() wireValue { return new(mls.MLSMessage) }},
		{"GroupInfo", codec.Marshal(mls.NewGroupInfo(groupInfo)), func() wireValue { return new(mls.MLSMessage) }},
		{"GroupSecrets", codec.Marshal(secrets), func() wireValue { return new(mls.GroupSecrets) }},
	}
}

func ptr[T any](v T) *T { return &v }

// TestTruncatedAndTrailing cuts valid encodings at every length and appends
// a byte to them.
func TestTruncatedAndTrailing(t *testing.T) {
	for _, c := range framingCases() {
		roundTrip(t, c.name, c.data, c.decode())
		for n := range len(c.data) {
			if err := codec.Unmarshal(c.data[:n], c.decode()); !errors.Is(err, codec.ErrTruncated) {
				t.Fatalf("%s cut to %d of %d bytes: got %v, want ErrTruncated", c.name, n, len(c.data), err)
			}
		}
		if err := codec.Unmarshal(append(c.data, 0), c.decode()); !errors.Is(err, codec.ErrTrailingData) {
			t.Errorf("%s with a trailing byte: got %v, want ErrTrailingData", c.name, err)
		}
	}
}

// TestBadVarint re-encodes the first length of a key package (the init key's,
// right after version and cipher suite) non-minimally and with the reserved
// prefix.
func TestBadVarint(t *testing.T) {
	good := codec.Marshal(testKeyPackage())
	if good[4] != byte(len(testKey)) {
		t.Fatalf("unexpected layout: %x", good[:5])
	}
	for _, header := range [][]byte{{0x40, byte(len(testKey))}, {0x80, 0, 0, byte(len(testKey))}, {0xc0 | byte(len(testKey))}} {
		bad := append(append(append([]byte{}, good[:4]...), header...), good[5:]...)
		if err := codec.Unmarshal(bad, new(mls.KeyPackage)); !errors.Is(err, codec.ErrInvalidVarint) {
			t.Errorf("header %x: got %v, want ErrInvalidVarint", header, err)
		}
	}
}
