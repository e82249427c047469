package mls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

func TestPrivateMessageContentPadding(t *testing.T) {
	for _, c := range []mls.PrivateMessageContent{
		{Content: mls.Content{ContentType: mls.ContentApplication, ApplicationData: []byte("hello")},
			Auth: mls.FramedContentAuthData{Signature: testKey}, Padding: 0},
		{Content: mls.Content{ContentType: mls.ContentProposal, Proposal: &mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 3}}},
			Auth: mls.FramedContentAuthData{Signature: testKey}, Padding: 5},
		{Content: mls.Content{ContentType: mls.ContentCommit, Commit: testCommit()},
			Auth: mls.FramedContentAuthData{Signature: testKey, ConfirmationTag: []byte("tag")}, Padding: 100},
	} {
		enc := codec.Marshal(&c)
		if !bytes.HasSuffix(enc, make([]byte, c.Padding)) {
			t.Fatalf("%v: padding not encoded as zeros", c.ContentType)
		}
		got := mls.PrivateMessageContent{Content: mls.Content{ContentType: c.ContentType}}
		if !roundTrip(t, c.ContentType.String(), enc, &got) {
			continue
		}
		if got.Padding != c.Padding || !bytes.Equal(got.Auth.ConfirmationTag, c.Auth.ConfirmationTag) {
			t.Errorf("%v: padding %d tag %x, want %d %x", c.ContentType, got.Padding, got.Auth.ConfirmationTag, c.Padding, c.Auth.ConfirmationTag)
		}
		if c.Padding > 0 {
			bad := bytes.Clone(enc)
			bad[len(bad)-1] = 1
			got = mls.PrivateMessageContent{Content: mls.Content{ContentType: c.ContentType}}
			if err := codec.Unmarshal(bad, &got); !errors.Is(err, codec.ErrInvalidValue) {
				t.Errorf("%v: non-zero padding: got %v, want ErrInvalidValue", c.ContentType, err)
			}
		}
		if err := codec.Unmarshal(enc, new(mls.PrivateMessageContent)); !errors.Is(err, codec.ErrInvalidValue) {
			t.Errorf("%v: no content type set: got %v, want ErrInvalidValue", c.ContentType, err)
		}
	}
}

func TestExtensionsDecode(t *testing.T) {
	tree := mls.RatchetTree{{Leaf: ptr(testLeaf(mls.LeafNodeSourceCommit))}, {}, {Leaf: ptr(testLeaf(mls.LeafNodeSourceUpdate))}}
	senders := mls.ExternalSenders{{SignatureKey: testKey, Credential: testCred}}
	exts := mls.Extensions{
		{Type: 0x0a0a, Data: []byte{}},
		mls.NewExtension(tree),
		mls.NewExtension(senders),
		mls.NewExtension(&mls.ApplicationID{'x'}),
		{Type: mls.ExtensionExternalPub, Data: []byte{5}}, // truncated ExternalPub
	}
	var got mls.RatchetTree
	if found, err := exts.Decode(&got); !found || err != nil || len(got) != 3 || !got[1].Blank() || got[2].Leaf.Source != mls.LeafNodeSourceUpdate {
		t.Errorf("ratchet tree: found %v err %v tree %+v", found, err, got)
	}
	var gotSenders mls.ExternalSenders
	if found, err := exts.Decode(&gotSenders); !found || err != nil || !bytes.Equal(gotSenders[0].Credential.Identity, testCred.Identity) {
		t.Errorf("external senders: found %v err %v %+v", found, err, gotSenders)
	}
	var id mls.ApplicationID
	if found, err := exts.Decode(&id); !found || err != nil || string(id) != "x" {
		t.Errorf("application id: found %v err %v %q", found, err, id)
	}
	if found, err := exts.Decode(new(mls.RequiredCapabilities)); found || err != nil {
		t.Errorf("absent required capabilities: found %v err %v", found, err)
	}
	if found, err := exts.Decode(new(mls.ExternalPub)); !found || !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("bad external pub: found %v err %v", found, err)
	}
	if data, ok := exts.Find(0x0a0a); !ok || data == nil || len(data) != 0 {
		t.Errorf("unknown extension: %x %v", data, ok)
	}
	if !exts.Has(mls.ExtensionRatchetTree) || exts.Has(mls.ExtensionRequiredCapabilities) {
		t.Error("Has is wrong")
	}
}

func TestMLSMessageAccessors(t *testing.T) {
	public := mls.NewPublicMessage(&mls.PublicMessage{Content: mls.FramedContent{
		GroupID: []byte("g1"), Epoch: 4, Sender: mls.Sender{Type: mls.SenderExternal},
		Content: mls.Content{ContentType: mls.ContentProposal, Proposal: &mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{}}},
	}})
	private := mls.NewPrivateMessage(&mls.PrivateMessage{GroupID: []byte("g2"), Epoch: 9, ContentType: mls.ContentCommit})
	for _, tc := range []struct {
		m     *mls.MLSMessage
		group string
		epoch uint64
		ct    mls.ContentType
	}{
		{public, "g1", 4, mls.ContentProposal},
		{private, "g2", 9, mls.ContentCommit},
		{mls.NewWelcome(&mls.Welcome{}), "", 0, 0},
	} {
		var got mls.MLSMessage
		roundTrip(t, tc.m.WireFormat.String(), codec.Marshal(tc.m), &got)
		g, e, ok := got.GroupEpoch()
		if string(g) != tc.group || e != tc.epoch || ok != (tc.group != "") || got.ContentType() != tc.ct {
			t.Errorf("%v: GroupEpoch %q %d %v, ContentType %v", tc.m.WireFormat, g, e, ok, got.ContentType())
		}
	}
}

// TestMarshalPanicsOnUnset checks that encoding a select whose branch is
// unset is reported, not silently encoded.
func TestMarshalPanicsOnUnset(t *testing.T) {
	for name, v := range map[string]codec.Marshaler{
		"proposal":  &mls.Proposal{Type: mls.ProposalAdd},
		"message":   &mls.MLSMessage{Version: mls.MLS10, WireFormat: mls.WireFormatWelcome},
		"blank":     &mls.Node{},
		"tbs":       &mls.FramedContentTBS{Content: &mls.FramedContent{Sender: mls.Sender{Type: mls.SenderMember}, Content: mls.Content{ContentType: mls.ContentApplication}}},
		"leaf":      &mls.LeafNode{},
		"psk":       &mls.PreSharedKeyID{},
		"content":   &mls.FramedContent{Content: mls.Content{ContentType: mls.ContentCommit}},
		"reference": &mls.ProposalOrRef{},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: encoding did not panic", name)
				}
			}()
			codec.Marshal(v)
		}()
	}
}
