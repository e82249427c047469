package mls_test

// These tests check the to-be-signed, to-be-MACed and to-be-hashed encodings
// against the hashes, MACs and signatures of the vectors, with the standard
// library and circl directly: the cipher package builds on this one, so it
// cannot be used here.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"testing"

	"github.com/cloudflare/circl/sign/ed448"
	"golang.org/x/crypto/cryptobyte"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// suiteHash is the hash function of a cipher suite (RFC 9420 §17.1).
func suiteHash(t *testing.T, suite mls.CipherSuite) func() hash.Hash {
	switch suite {
	case 1, 2, 3:
		return sha256.New
	case 4, 5, 6:
		return sha512.New
	case 7:
		return sha512.New384
	}
	t.Fatalf("unknown cipher suite %d", suite)
	return nil
}

func digest(h func() hash.Hash, parts ...[]byte) []byte {
	d := h()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

func mac(h func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(h, key)
	m.Write(data)
	return m.Sum(nil)
}

// verifyWithLabel checks sig over SignContent{"MLS 1.0 "+label, content}
// (RFC 9420 §5.1.2) with the suite's signature scheme.
func verifyWithLabel(t *testing.T, suite mls.CipherSuite, pub []byte, label string, v codec.Marshaler, sig []byte) bool {
	t.Helper()
	msg := build(func(b *cryptobyte.Builder) {
		codec.AddOpaque(b, []byte("MLS 1.0 "+label))
		codec.AddOpaque(b, codec.Marshal(v))
	})
	ecdsaVerify := func(curve elliptic.Curve, h func() hash.Hash) bool {
		key, err := ecdsa.ParseUncompressedPublicKey(curve, pub)
		return err == nil && ecdsa.VerifyASN1(key, digest(h, msg), sig)
	}
	switch suite {
	case 1, 3:
		return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
	case 2:
		return ecdsaVerify(elliptic.P256(), sha256.New)
	case 4, 6:
		return len(pub) == ed448.PublicKeySize && ed448.Verify(pub, msg, sig, "")
	case 5:
		return ecdsaVerify(elliptic.P521(), sha512.New)
	case 7:
		return ecdsaVerify(elliptic.P384(), sha512.New384)
	}
	t.Fatalf("unknown cipher suite %d", suite)
	return false
}

// TestTranscriptHashVectors recomputes both transcript hashes (RFC 9420
// §8.2) from ConfirmedTranscriptHashInput and InterimTranscriptHashInput, and
// checks the confirmation tag was decoded where it belongs.
func TestTranscriptHashVectors(t *testing.T) {
	var cases []struct {
		CipherSuite     mls.CipherSuite `json:"cipher_suite"`
		ConfirmationKey mlstest.Hex     `json:"confirmation_key"`
		Content         mlstest.Hex     `json:"authenticated_content"`
		InterimBefore   mlstest.Hex     `json:"interim_transcript_hash_before"`
		ConfirmedAfter  mlstest.Hex     `json:"confirmed_transcript_hash_after"`
		InterimAfter    mlstest.Hex     `json:"interim_transcript_hash_after"`
	}
	mlstest.Load(t, "transcript-hashes.json", &cases)
	for _, c := range cases {
		what := fmt.Sprintf("suite %d", c.CipherSuite)
		var ac mls.AuthenticatedContent
		if !roundTrip(t, what, c.Content, &ac) {
			continue
		}
		if ac.Content.Commit == nil {
			t.Errorf("%s: content type %v, want commit", what, ac.Content.ContentType)
			continue
		}
		h := suiteHash(t, c.CipherSuite)
		confirmed := digest(h, c.InterimBefore, codec.Marshal(ac.ConfirmedTranscriptHashInput()))
		if !bytes.Equal(confirmed, c.ConfirmedAfter) {
			t.Errorf("%s: confirmed transcript hash %x, want %x", what, confirmed, []byte(c.ConfirmedAfter))
		}
		interim := digest(h, c.ConfirmedAfter, codec.Marshal(&mls.InterimTranscriptHashInput{ConfirmationTag: ac.Auth.ConfirmationTag}))
		if !bytes.Equal(interim, c.InterimAfter) {
			t.Errorf("%s: interim transcript hash %x, want %x", what, interim, []byte(c.InterimAfter))
		}
		if tag := mac(h, c.ConfirmationKey, c.ConfirmedAfter); !bytes.Equal(tag, ac.Auth.ConfirmationTag) {
			t.Errorf("%s: confirmation tag %x, want %x", what, ac.Auth.ConfirmationTag, tag)
		}
	}
}

// TestMessageProtectionPublic checks the membership tag (over
// AuthenticatedContentTBM) and the signature (over FramedContentTBS with the
// group context) of the public messages of message-protection.json, and
// decodes the private ones.
func TestMessageProtectionPublic(t *testing.T) {
	var cases []struct {
		CipherSuite             mls.CipherSuite `json:"cipher_suite"`
		GroupID                 mlstest.Hex     `json:"group_id"`
		Epoch                   uint64          `json:"epoch"`
		TreeHash                mlstest.Hex     `json:"tree_hash"`
		ConfirmedTranscriptHash mlstest.Hex     `json:"confirmed_transcript_hash"`
		SignaturePub            mlstest.Hex     `json:"signature_pub"`
		MembershipKey           mlstest.Hex     `json:"membership_key"`
		Proposal                mlstest.Hex     `json:"proposal"`
		ProposalPub             mlstest.Hex     `json:"proposal_pub"`
		ProposalPriv            mlstest.Hex     `json:"proposal_priv"`
		Commit                  mlstest.Hex     `json:"commit"`
		CommitPub               mlstest.Hex     `json:"commit_pub"`
		CommitPriv              mlstest.Hex     `json:"commit_priv"`
		ApplicationPriv         mlstest.Hex     `json:"application_priv"`
	}
	mlstest.Load(t, "message-protection.json", &cases)
	for _, c := range cases {
		ctx := &mls.GroupContext{Version: mls.MLS10, CipherSuite: c.CipherSuite, GroupID: c.GroupID, Epoch: c.Epoch,
			TreeHash: c.TreeHash, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash}
		roundTrip(t, fmt.Sprintf("suite %d proposal", c.CipherSuite), c.Proposal, new(mls.Proposal))
		roundTrip(t, fmt.Sprintf("suite %d commit", c.CipherSuite), c.Commit, new(mls.Commit))
		for _, pub := range []struct {
			name    string
			data    []byte
			content []byte
		}{{"proposal_pub", c.ProposalPub, c.Proposal}, {"commit_pub", c.CommitPub, c.Commit}} {
			what := fmt.Sprintf("suite %d %s", c.CipherSuite, pub.name)
			var m mls.MLSMessage
			if !roundTrip(t, what, pub.data, &m) {
				continue
			}
			pm := m.PublicMessage
			if pm == nil || pm.Content.Sender != (mls.Sender{Type: mls.SenderMember, Index: 1}) {
				t.Errorf("%s: not a public message from member 1", what)
				continue
			}
			var body codec.Marshaler = pm.Content.Proposal
			if pm.Content.Commit != nil {
				body = pm.Content.Commit
			}
			if !bytes.Equal(codec.Marshal(body), pub.content) {
				t.Errorf("%s: content differs from the raw value", what)
			}
			h := suiteHash(t, c.CipherSuite)
			if tag := mac(h, c.MembershipKey, codec.Marshal(pm.TBM(ctx))); !bytes.Equal(tag, pm.MembershipTag) {
				t.Errorf("%s: membership tag %x, want %x", what, pm.MembershipTag, tag)
			}
			if !verifyWithLabel(t, c.CipherSuite, c.SignaturePub, "FramedContentTBS", pm.AuthenticatedContent().TBS(ctx), pm.Auth.Signature) {
				t.Errorf("%s: signature does not verify over FramedContentTBS", what)
			}
		}
		for _, priv := range []struct {
			name string
			data []byte
			ct   mls.ContentType
		}{{"proposal_priv", c.ProposalPriv, mls.ContentProposal}, {"commit_priv", c.CommitPriv, mls.ContentCommit}, {"application_priv", c.ApplicationPriv, mls.ContentApplication}} {
			what := fmt.Sprintf("suite %d %s", c.CipherSuite, priv.name)
			var m mls.MLSMessage
			if roundTrip(t, what, priv.data, &m) && (m.PrivateMessage == nil || m.ContentType() != priv.ct) {
				t.Errorf("%s: wire format %v content type %v", what, m.WireFormat, m.ContentType())
			}
		}
	}
}

// treeHash computes the tree hash of node x at level level of tree
// (RFC 9420 §7.8) through TreeHashInput, with the array layout of
// RFC 9420 Appendix C. Nodes past the end of tree are blank.
func treeHash(h func() hash.Hash, tree mls.RatchetTree, x uint32, level uint, hashes map[uint32][]byte) []byte {
	node := func(i uint32) mls.Node {
		if int(i) < len(tree) {
			return tree[i]
		}
		return mls.Node{}
	}
	var in mls.TreeHashInput
	if level == 0 {
		in = mls.TreeHashInput{NodeType: mls.NodeTypeLeaf, Leaf: mls.LeafNodeHashInput{LeafIndex: x / 2, LeafNode: node(x).Leaf}}
	} else {
		in = mls.TreeHashInput{NodeType: mls.NodeTypeParent, Parent: mls.ParentNodeHashInput{
			ParentNode: node(x).Parent,
			LeftHash:   treeHash(h, tree, x-1<<(level-1), level-1, hashes),
			RightHash:  treeHash(h, tree, x+1<<(level-1), level-1, hashes),
		}}
	}
	sum := digest(h, codec.Marshal(&in))
	hashes[x] = sum
	return sum
}

// TestTreeValidationVectors recomputes the tree hash of every node of every
// tree-validation.json tree, and verifies every leaf's signature over its
// LeafNodeTBS with the case's group id, and that the leaf index is bound
// exactly for leaves from an update or a commit.
func TestTreeValidationVectors(t *testing.T) {
	var cases []struct {
		CipherSuite mls.CipherSuite `json:"cipher_suite"`
		Tree        mlstest.Hex     `json:"tree"`
		GroupID     mlstest.Hex     `json:"group_id"`
		TreeHashes  []mlstest.Hex   `json:"tree_hashes"`
	}
	mlstest.Load(t, "tree-validation.json", &cases)
	signatures := 0
	for i, c := range cases {
		var tree mls.RatchetTree
		if err := codec.Unmarshal(c.Tree, &tree); err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		level := uint(0)
		for 1<<(level+1)-1 < len(tree) {
			level++
		}
		hashes := map[uint32][]byte{}
		treeHash(suiteHash(t, c.CipherSuite), tree, 1<<level-1, level, hashes)
		for x, want := range c.TreeHashes {
			if !bytes.Equal(hashes[uint32(x)], want) {
				t.Errorf("case %d: tree hash of node %d is %x, want %x", i, x, hashes[uint32(x)], []byte(want))
			}
		}
		for x := 0; x < len(tree); x += 2 {
			if leaf := tree[x].Leaf; leaf != nil {
				if !verifyWithLabel(t, c.CipherSuite, leaf.SignatureKey, "LeafNodeTBS", leaf.TBS(c.GroupID, uint32(x/2)), leaf.Signature) {
					t.Errorf("case %d: signature of leaf %d (%v) does not verify", i, x/2, leaf.Source)
				}
				signatures++
				// The leaf index is signed exactly when the leaf is not from a key package.
				bound := leaf.Source != mls.LeafNodeSourceKeyPackage
				if verifyWithLabel(t, c.CipherSuite, leaf.SignatureKey, "LeafNodeTBS", leaf.TBS(c.GroupID, uint32(x/2+1)), leaf.Signature) == bound {
					t.Errorf("case %d: signature of leaf %d (%v) at the wrong index: verifies %v", i, x/2, leaf.Source, !bound)
				}
			}
		}
	}
	t.Logf("%d trees, %d leaf signatures", len(cases), signatures)
}

// TestKeyPackageSignatures verifies the KeyPackageTBS and LeafNodeTBS
// signatures of the key packages of welcome.json and the passive-client
// vectors.
func TestKeyPackageSignatures(t *testing.T) {
	var cases []struct {
		CipherSuite mls.CipherSuite `json:"cipher_suite"`
		KeyPackage  mlstest.Hex     `json:"key_package"`
	}
	mlstest.Load(t, "welcome.json", &cases)
	for _, name := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json"} {
		var more []struct {
			CipherSuite mls.CipherSuite `json:"cipher_suite"`
			KeyPackage  mlstest.Hex     `json:"key_package"`
		}
		mlstest.Load(t, name, &more)
		cases = append(cases, more...)
	}
	for i, c := range cases {
		var m mls.MLSMessage
		if err := codec.Unmarshal(c.KeyPackage, &m); err != nil || m.KeyPackage == nil {
			t.Errorf("key package %d: %v", i, err)
			continue
		}
		kp := m.KeyPackage
		if kp.CipherSuite != c.CipherSuite {
			t.Errorf("key package %d: suite %d, want %d", i, kp.CipherSuite, c.CipherSuite)
		}
		pub := kp.LeafNode.SignatureKey
		if !verifyWithLabel(t, c.CipherSuite, pub, "KeyPackageTBS", kp.TBS(), kp.Signature) {
			t.Errorf("key package %d: KeyPackageTBS signature does not verify", i)
		}
		if !verifyWithLabel(t, c.CipherSuite, pub, "LeafNodeTBS", kp.LeafNode.TBS(nil, 0), kp.LeafNode.Signature) {
			t.Errorf("key package %d: LeafNodeTBS signature does not verify", i)
		}
	}
}
