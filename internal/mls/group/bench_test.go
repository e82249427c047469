package group

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// The benchmarks run on groups of cipher suite 1 with 10 to 10,000
// members, in two shapes:
//
//   - fresh: the creator (leaf 0) added everyone in one commit without a
//     path, so every parent node is blank and a path encrypts to everyone;
//   - steady: after that, every other member (all even leaves, in
//     bit-reversed order) committed with a path, which sets every parent
//     node with no unmerged leaf, as if every member had committed once: a
//     path encrypts to about log2(n) nodes.
//
// The committer is leaf 0 (the creator), the receiver leaf 1, which derives
// the longest chain of path secrets from leaf 0's path, and the Delivery
// Service a public view of the group. Fixtures are built once per process.

var benchSizes = []int{10, 100, 1000, 10000}

// fixture is a group in one shape, seen by its creator, one other member
// and the Delivery Service.
type fixture struct {
	suite    *cipher.Suite
	creator  *Group
	receiver *Group
	ds       *PublicGroup
	// members holds every member's identity and KeyPackage secrets, by
	// leaf, for commits by any member.
	members []*benchMember
}

type benchMember struct {
	id     Identity
	signer *cipher.Signer
	bundle *KeyPackageBundle
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

func benchSuite(tb testing.TB) *cipher.Suite {
	s, err := cipher.Lookup(cipher.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// newBenchMembers makes n identities with KeyPackages, on every CPU.
func newBenchMembers(tb testing.TB, suite *cipher.Suite, first, n int) []*benchMember {
	out := make([]*benchMember, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				m, err := newBenchMember(suite, fmt.Sprintf("@user%d:bench|DEVICE", first+i))
				mu.Lock()
				if err != nil && failure == nil {
					failure = err
				}
				out[i] = m
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failure != nil {
		tb.Fatal(failure)
	}
	return out
}

func newBenchMember(suite *cipher.Suite, name string) (*benchMember, error) {
	priv, _, err := suite.GenerateSignatureKeyPair()
	if err != nil {
		return nil, err
	}
	signer, err := suite.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	id := Identity{Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte(name)}, SignaturePriv: priv}
	bundle, err := NewKeyPackage(suite, id.Credential, signer, KeyPackageOptions{})
	if err != nil {
		return nil, err
	}
	return &benchMember{id: id, signer: signer, bundle: bundle}, nil
}

func keyPackages(members []*benchMember) []*mls.KeyPackage {
	kps := make([]*mls.KeyPackage, len(members))
	for i, m := range members {
		kps[i] = m.bundle.KeyPackage
	}
	return kps
}

// getFixture returns the shared fixture of a shape and size.
func getFixture(tb testing.TB, shape string, n int) *fixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	key := fmt.Sprintf("%s/%d", shape, n)
	if f, ok := fixtures[key]; ok {
		return f
	}
	var f *fixture
	if shape == "fresh" {
		f = newFresh(tb, n)
	} else {
		f = newSteady(tb, n)
	}
	fixtures[key] = f
	return f
}

// newFresh builds a group of n members added by one commit of the creator.
func newFresh(tb testing.TB, n int) *fixture {
	suite := benchSuite(tb)
	f := &fixture{suite: suite, members: newBenchMembers(tb, suite, 0, n)}
	creator := f.members[0]
	var err error
	f.creator, err = NewGroup(suite, []byte("!bench:ds"), creator.id, CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	gi, err := f.creator.GroupInfo(GroupInfoOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	// The Delivery Service tells clients apart by the identity their
	// credential names, as the Matrix profile does.
	dsConfig := &Config{ClientID: func(c *mls.Credential) string { return string(c.Identity) }}
	if f.ds, err = NewPublicGroup(gi, nil, dsConfig); err != nil {
		tb.Fatal(err)
	}
	// Leaf 0 of the tree is the creator's own leaf, not its KeyPackage's.
	f.members[0].bundle = nil
	pc, err := f.creator.Commit(CommitOptions{Adds: keyPackages(f.members[1:])})
	if err != nil {
		tb.Fatal(err)
	}
	f.accept(tb, pc, nil)
	if f.receiver, err = Join(pc.Welcome, f.members[1].bundle, f.members[1].id, JoinOptions{}); err != nil {
		tb.Fatal(err)
	}
	return f
}

// accept has the DS and the members of f other than committer (which
// merges pc itself) take a commit.
func (f *fixture) accept(tb testing.TB, pc *PendingCommit, committer *Group) {
	staged, err := f.ds.StageCommit(pc.Message.PublicMessage)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.ds.Merge(staged); err != nil {
		tb.Fatal(err)
	}
	for _, g := range []*Group{f.creator, f.receiver} {
		if g == nil {
			continue
		}
		if g == committer || (committer == nil && g == f.creator) {
			if err := g.Merge(pc.StagedCommit); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		out, err := g.Process(pc.Message)
		if err != nil {
			tb.Fatal(err)
		}
		if err := g.Merge(out.Commit); err != nil {
			tb.Fatal(err)
		}
	}
}

// newSteady builds the fresh group of n members, then has every even leaf
// commit with a path, in bit-reversed order so that the upper nodes fill
// first and each path encrypts to few nodes.
func newSteady(tb testing.TB, n int) *fixture {
	f := newFresh(tb, n)
	width := uint(bits.Len(uint(n - 1)))
	var order []LeafIndex
	for i := range 1 << width {
		l := LeafIndex(bits.Reverse(uint(i)) >> (bits.UintSize - width))
		if l%2 == 0 && int(l) < n {
			order = append(order, l)
		}
	}
	for _, l := range order {
		committer := f.as(tb, l)
		pc, err := committer.Commit(CommitOptions{ForcePath: true, GroupInfoOptions: GroupInfoOptions{OmitRatchetTree: true}})
		if err != nil {
			tb.Fatal(err)
		}
		f.accept(tb, pc, committer)
	}
	return f
}

// as returns a member view of f's group for the member at l, who has not
// committed yet: the creator's view with l's leaf key and signature key.
// Every member shares the epoch's secrets; only private tree keys differ,
// and a commit needs none but the leaf's.
func (f *fixture) as(tb testing.TB, l LeafIndex) *Group {
	if l == 0 {
		return f.creator
	}
	m := f.members[l]
	priv, err := tree.NewPrivate(f.creator.public.tree, l, m.bundle.EncryptionPriv)
	if err != nil {
		tb.Fatal(err)
	}
	g := *f.creator
	g.self, g.priv, g.signer, g.signaturePriv = l, priv, m.signer, m.id.SignaturePriv
	return &g
}

// benchShapes runs f on every shape and size.
func benchShapes(b *testing.B, f func(b *testing.B, fx *fixture)) {
	for _, shape := range []string{"fresh", "steady"} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/n=%d", shape, n), func(b *testing.B) {
				fx := getFixture(b, shape, n)
				b.ReportAllocs()
				f(b, fx)
			})
		}
	}
}

// newcomer returns a fresh KeyPackage of a client not in the group.
func (f *fixture) newcomer(b *testing.B) *benchMember {
	return newBenchMembers(b, f.suite, len(f.members), 1)[0]
}

func mustCommit(b *testing.B, g *Group, opts CommitOptions) *PendingCommit {
	pc, err := g.Commit(opts)
	if err != nil {
		b.Fatal(err)
	}
	return pc
}

// BenchmarkAddOneCreate: the creator commits the Add of one newcomer, with
// its Welcome and the GroupInfo (ratchet tree included).
func BenchmarkAddOneCreate(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		opts := CommitOptions{Adds: []*mls.KeyPackage{f.newcomer(b).bundle.KeyPackage}}
		for b.Loop() {
			mustCommit(b, f.creator, opts)
		}
	})
}

// BenchmarkAddOneProcess: the receiver processes that commit.
func BenchmarkAddOneProcess(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		pc := mustCommit(b, f.creator, CommitOptions{Adds: []*mls.KeyPackage{f.newcomer(b).bundle.KeyPackage}})
		benchProcess(b, f.receiver, pc.Message)
	})
}

// BenchmarkSelfUpdateCreate: the creator commits nothing but a new path.
func BenchmarkSelfUpdateCreate(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		for b.Loop() {
			mustCommit(b, f.creator, CommitOptions{})
		}
	})
}

// BenchmarkSelfUpdateProcess: the receiver processes that commit.
func BenchmarkSelfUpdateProcess(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		benchProcess(b, f.receiver, mustCommit(b, f.creator, CommitOptions{}).Message)
	})
}

func benchProcess(b *testing.B, g *Group, m *mls.MLSMessage) {
	for b.Loop() {
		out, err := g.Process(m)
		if err != nil || out.Commit == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublicValidateApply: the Delivery Service validates and applies
// a commit (StageCommit), for an Add and for a self-update; checking the
// committer's GroupInfo is measured apart (it hashes the whole tree).
func BenchmarkPublicValidateApply(b *testing.B) {
	for _, kind := range []string{"add-one", "self-update", "group-info-check"} {
		b.Run(kind, func(b *testing.B) {
			benchShapes(b, func(b *testing.B, f *fixture) {
				opts := CommitOptions{}
				if kind == "add-one" {
					opts.Adds = []*mls.KeyPackage{f.newcomer(b).bundle.KeyPackage}
				}
				pc := mustCommit(b, f.creator, opts)
				m := pc.Message.PublicMessage
				if kind == "group-info-check" {
					staged, err := f.ds.StageCommit(m)
					if err != nil {
						b.Fatal(err)
					}
					for b.Loop() {
						if err := staged.CheckGroupInfo(pc.GroupInfo); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				for b.Loop() {
					if _, err := f.ds.StageCommit(m); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkJoin: a newcomer joins from the Welcome of an add-one commit
// (ratchet tree in the GroupInfo; every leaf signature is verified).
func BenchmarkJoin(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		m := f.newcomer(b)
		pc := mustCommit(b, f.creator, CommitOptions{Adds: []*mls.KeyPackage{m.bundle.KeyPackage}})
		for b.Loop() {
			if _, err := Join(pc.Welcome, m.bundle, m.id, JoinOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAddAll: a creator alone in its group commits the Add of n-1
// members at once, with their Welcome.
func BenchmarkAddAll(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			suite := benchSuite(b)
			members := getAddAllMembers(b, suite, n)
			g, err := NewGroup(suite, []byte("!addall:ds"), members[0].id, CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			opts := CommitOptions{Adds: keyPackages(members[1:])}
			b.ReportAllocs()
			for b.Loop() {
				mustCommit(b, g, opts)
			}
		})
	}
}

// getAddAllMembers reuses the members of the fresh fixture when it was
// built, new ones otherwise.
func getAddAllMembers(b *testing.B, suite *cipher.Suite, n int) []*benchMember {
	fixturesMu.Lock()
	f, ok := fixtures[fmt.Sprintf("fresh/%d", n)]
	fixturesMu.Unlock()
	if ok {
		return f.members
	}
	return newBenchMembers(b, suite, 0, n)
}

// BenchmarkApplicationEncrypt and BenchmarkApplicationDecrypt protect and
// unprotect a 1 KiB application message.
func BenchmarkApplicationEncrypt(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		msg := make([]byte, 1024)
		for b.Loop() {
			if _, err := f.receiver.Encrypt(msg, nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApplicationDecrypt(b *testing.B) {
	benchShapes(b, func(b *testing.B, f *fixture) {
		msg := make([]byte, 1024)
		msgs := make([]*mls.MLSMessage, b.N)
		for i := range msgs {
			m, err := f.creator.Encrypt(msg, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = m
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := f.receiver.Process(msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublicState stores and loads the Delivery Service's public
// state, as it does around every accepted commit when it does not keep the
// group in memory.
func BenchmarkPublicState(b *testing.B) {
	for _, op := range []string{"marshal", "load"} {
		b.Run(op, func(b *testing.B) {
			benchShapes(b, func(b *testing.B, f *fixture) {
				data, err := f.ds.MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if op == "marshal" {
						_, err = f.ds.MarshalBinary()
					} else {
						_, err = LoadPublicGroup(data, nil)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
