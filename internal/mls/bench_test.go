package mls_test

import (
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
)

// bigTree returns the ratchet tree of a group of n members with every
// parent node set, the shape a GroupInfo's ratchet_tree extension has after
// many commits.
func bigTree(n int) mls.RatchetTree {
	tree := make(mls.RatchetTree, 2*n-1)
	for i := range tree {
		if i%2 == 0 {
			leaf := testLeaf(mls.LeafNodeSourceCommit)
			leaf.ParentHash = testKey
			leaf.Signature = make([]byte, 64)
			tree[i].Leaf = &leaf
		} else {
			tree[i].Parent = &mls.ParentNode{EncryptionKey: testKey, ParentHash: testKey, UnmergedLeaves: []uint32{}}
		}
	}
	return tree
}

func BenchmarkRatchetTree10000(b *testing.B) {
	tree := bigTree(10000)
	enc := codec.Marshal(tree)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			var got mls.RatchetTree
			if err := codec.Unmarshal(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			codec.Marshal(tree)
		}
	})
}

func BenchmarkPublicMessageCommit(b *testing.B) {
	m := mls.NewPublicMessage(&mls.PublicMessage{
		Content: mls.FramedContent{GroupID: []byte("!room:example.org"), Epoch: 5, Sender: mls.Sender{Type: mls.SenderMember, Index: 2},
			Content: mls.Content{ContentType: mls.ContentCommit, Commit: testCommit()}},
		Auth:          mls.FramedContentAuthData{Signature: make([]byte, 64), ConfirmationTag: testKey},
		MembershipTag: testKey,
	})
	enc := codec.Marshal(m)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		var got mls.MLSMessage
		if err := codec.Unmarshal(enc, &got); err != nil {
			b.Fatal(err)
		}
	}
}
