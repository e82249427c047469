package group

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/tree"
)

// committed is one proposal a commit covers.
type committed struct {
	proposal *mls.Proposal
	sender   mls.Sender
	// ref is the ProposalRef of a proposal covered by reference, nil for
	// one carried by value.
	ref []byte
}

// proposalList is a commit's proposals sorted for validation and
// application (RFC 9420 §12.2, §12.3).
type proposalList struct {
	all          []committed
	gce          *mls.GroupContextExtensions
	updates      []committed
	removes      []LeafIndex
	adds         []*mls.KeyPackage
	psks         []mls.PreSharedKeyID
	externalInit *mls.ExternalInit
	reinit       *mls.ReInit
	pathRequired bool
}

// resolve returns the proposals of commit, looking those by reference up
// among the proposals received in the epoch. A proposal by value is sent by
// committer.
func (g *PublicGroup) resolve(commit *mls.Commit, committer mls.Sender) ([]committed, error) {
	list := make([]committed, len(commit.Proposals))
	for i := range commit.Proposals {
		por := &commit.Proposals[i]
		if por.Type == mls.ProposalOrRefProposal {
			list[i] = committed{proposal: &por.Proposal, sender: committer}
			continue
		}
		if committer.Type == mls.SenderNewMemberCommit {
			return nil, ruled(ErrExternalCommit, "an external commit covers a proposal by reference")
		}
		p := g.findProposal(por.Reference)
		if p == nil {
			return nil, ruled(ErrUnknownProposal, "reference %x", por.Reference)
		}
		list[i] = committed{proposal: p.Proposal, sender: p.Sender, ref: p.Ref}
	}
	return list, nil
}

// sortProposals checks the rules of RFC 9420 §12.2 (or §12.4.3.2 for an
// external commit) that concern the list as a whole and sorts it by type.
func sortProposals(list []committed, committer mls.Sender) (*proposalList, error) {
	external := committer.Type == mls.SenderNewMemberCommit
	pl := &proposalList{all: list, pathRequired: len(list) == 0}
	changed := make(map[LeafIndex]bool)
	change := func(l LeafIndex) error {
		if changed[l] {
			return ruled(ErrSameLeaf, "leaf %d", l)
		}
		changed[l] = true
		return nil
	}
	for _, c := range list {
		p := c.proposal
		switch p.Type {
		case mls.ProposalAdd:
			pl.adds = append(pl.adds, &p.Add.KeyPackage)
		case mls.ProposalUpdate:
			if c.sender == committer {
				return nil, ruled(ErrCommitterUpdate, "leaf %d", committer.Index)
			}
			if err := change(LeafIndex(c.sender.Index)); err != nil {
				return nil, err
			}
			pl.updates = append(pl.updates, c)
		case mls.ProposalRemove:
			l := LeafIndex(p.Remove.Removed)
			if committer.Type == mls.SenderMember && p.Remove.Removed == committer.Index {
				return nil, ruled(ErrCommitterRemoved, "leaf %d", l)
			}
			if err := change(l); err != nil {
				return nil, err
			}
			pl.removes = append(pl.removes, l)
		case mls.ProposalPSK:
			id := &p.PreSharedKey.PSK
			if slices.ContainsFunc(pl.psks, func(other mls.PreSharedKeyID) bool { return samePSK(&other, id) }) {
				return nil, ruled(ErrDuplicatePSK, "PSK %x", id.PSKID)
			}
			pl.psks = append(pl.psks, *id)
		case mls.ProposalReInit:
			pl.reinit = p.ReInit
		case mls.ProposalExternalInit:
			if !external {
				return nil, ruled(ErrExternalInit, "in a commit from leaf %d", committer.Index)
			}
			if pl.externalInit != nil {
				return nil, ruled(ErrExternalCommit, "two ExternalInit proposals")
			}
			pl.externalInit = p.ExternalInit
		case mls.ProposalGroupContextExtensions:
			if pl.gce != nil {
				return nil, ruled(ErrSeveralGCE, "a second one")
			}
			pl.gce = p.GroupContextExtensions
		}
		pl.pathRequired = pl.pathRequired || pathRequired(p.Type)
	}
	if pl.reinit != nil && len(list) > 1 {
		return nil, ruled(ErrReInitNotAlone, "%d proposals", len(list))
	}
	if external {
		switch {
		case pl.externalInit == nil:
			return nil, ruled(ErrExternalCommit, "no ExternalInit proposal")
		case len(pl.removes) > 1:
			return nil, ruled(ErrExternalCommit, "%d Remove proposals", len(pl.removes))
		case len(pl.adds)+len(pl.updates) > 0 || pl.gce != nil || pl.reinit != nil:
			return nil, ruled(ErrExternalCommit, "only ExternalInit, Remove and PreSharedKey proposals are allowed")
		}
	}
	return pl, nil
}

// pathRequired reports whether a commit covering a proposal of type t
// must have a path (RFC 9420 §12.4): every type but add, psk and reinit.
func pathRequired(t mls.ProposalType) bool {
	return t != mls.ProposalAdd && t != mls.ProposalPSK && t != mls.ProposalReInit
}

// samePSK reports whether two PreSharedKeyIDs are the same.
func samePSK(a, b *mls.PreSharedKeyID) bool {
	return bytes.Equal(codec.Marshal(a), codec.Marshal(b))
}

// covers reports whether the list covers required proposal p: a Remove is
// covered by any removal of its leaf, anything else by its reference.
func (pl *proposalList) covers(p *Proposal) bool {
	if p.Proposal.Type == mls.ProposalRemove {
		return slices.Contains(pl.removes, LeafIndex(p.Proposal.Remove.Removed))
	}
	return slices.ContainsFunc(pl.all, func(c committed) bool { return bytes.Equal(c.ref, p.Ref) })
}

// applied is the tree and group context a commit's proposals give
// (RFC 9420 §12.3), before its path.
type applied struct {
	tree    *tree.Tree
	ctx     mls.GroupContext
	ext     *contextExtensions
	params  *tree.Params
	added   []LeafIndex
	removed []Member
	// clients records how the commit changes the members' client ids.
	clients *clientChanges
}

// replaceLeaf records in a's client changes that the leaf at l is now what
// the tree holds there; old is what it held.
func (a *applied) replaceLeaf(old *mls.LeafNode, l LeafIndex) {
	a.clients.replace(old, a.tree.Leaf(l))
}

// apply checks each proposal of pl against the tree as the proposals
// before it leave it and applies it to a copy of the tree and group
// context: GroupContextExtensions, then Updates, Removes and Adds
// (RFC 9420 §12.3). The group is not changed.
func (g *PublicGroup) apply(pl *proposalList) (*applied, error) {
	a := &applied{tree: g.tree.Clone(), ctx: g.ctx, ext: g.ext, clients: g.clientChanges()}
	if pl.gce != nil {
		ext, err := parseContextExtensions(pl.gce.Extensions)
		if err != nil {
			return nil, err
		}
		a.ctx.Extensions, a.ext = pl.gce.Extensions, ext
	}
	a.params = g.cfg.params(&a.ctx, a.ext.required)
	for _, u := range pl.updates {
		if err := g.validateProposal(a.tree, &a.ctx, a.params, u.proposal, u.sender); err != nil {
			return nil, err
		}
		l := LeafIndex(u.sender.Index)
		old := a.tree.Leaf(l)
		if err := a.tree.Update(l, &u.proposal.Update.LeafNode); err != nil {
			return nil, treeRule(err, ErrLeafNode)
		}
		a.replaceLeaf(old, l)
	}
	for _, l := range pl.removes {
		leaf := a.tree.Leaf(l)
		if leaf == nil {
			return nil, ruled(ErrRemoveBlank, "leaf %d", l)
		}
		a.removed = append(a.removed, Member{Leaf: l, Node: leaf})
		if err := a.tree.Remove(l); err != nil {
			return nil, treeRule(err, ErrRemoveBlank)
		}
		a.clients.replace(leaf, nil)
	}
	if pl.gce != nil {
		if err := a.checkMembersSupport(); err != nil {
			return nil, err
		}
	}
	if err := g.applyAdds(a, pl.adds); err != nil {
		return nil, err
	}
	for i := range pl.psks {
		if err := g.validatePSK(&pl.psks[i]); err != nil {
			return nil, err
		}
	}
	if pl.reinit != nil && pl.reinit.Version < g.ctx.Version {
		return nil, ruled(ErrReInit, "version %v is older than the group's %v", pl.reinit.Version, g.ctx.Version)
	}
	return a, nil
}

// checkMembersSupport checks that every member supports the group context
// extensions a GroupContextExtensions proposal sets and meets its
// required_capabilities (RFC 9420 §11.1, §12.1.7).
func (a *applied) checkMembersSupport() error {
	for l, leaf := range a.tree.Members() {
		if err := supportsContext(leaf, a.ctx.Extensions); err != nil {
			return fmt.Errorf("%w (leaf %d)", err, l)
		}
		if err := meetsRequired(leaf, a.ext.required); err != nil {
			return fmt.Errorf("%w (leaf %d)", err, l)
		}
	}
	return nil
}

// meetsRequired checks that leaf supports what required lists (RFC 9420
// §11.1); default extensions and proposals need not be listed.
func meetsRequired(leaf *mls.LeafNode, required *mls.RequiredCapabilities) error {
	if required == nil {
		return nil
	}
	c := &leaf.Capabilities
	for _, t := range required.ExtensionTypes {
		if !defaultExtension(t) && !c.SupportsExtension(t) {
			return ruled(ErrExtensions, "required extension %v not supported", t)
		}
	}
	for _, t := range required.ProposalTypes {
		if (t < mls.ProposalAdd || t > mls.ProposalGroupContextExtensions) && !c.SupportsProposal(t) {
			return ruled(ErrExtensions, "required proposal %v not supported", t)
		}
	}
	for _, t := range required.CredentialTypes {
		if !c.SupportsCredential(t) {
			return ruled(ErrExtensions, "required credential %v not supported", t)
		}
	}
	return nil
}

// applyAdds validates the KeyPackage of each Add and adds its leaf, in
// order (RFC 9420 §12.1.1): no two Adds of one client, none of a client
// still in the group after the commit's Removes. The KeyPackages are
// checked in parallel against the tree before the Adds; what that cannot
// see, the Adds' relations to each other (keys, clients, credential
// types), is checked as they are added.
func (g *PublicGroup) applyAdds(a *applied, adds []*mls.KeyPackage) error {
	if len(adds) == 0 {
		return nil
	}
	counts := g.clients()
	clientID := func(leaf *mls.LeafNode) string {
		if counts != nil {
			return g.cfg.ClientID(&leaf.Credential)
		}
		return string(leaf.SignatureKey)
	}
	err := inParallel(len(adds), func(i int) error {
		leaf := &adds[i].LeafNode
		if counts != nil {
			if id := clientID(leaf); counts.count(id)+a.clients.counts[id] > 0 {
				return ruled(ErrAlreadyMember, "Add %d brings client %q, who is a member", i, id)
			}
		}
		if l, ok := a.tree.FindSignatureKey(leaf.SignatureKey); ok {
			return ruled(ErrAlreadyMember, "Add %d brings the signature key of leaf %d", i, l)
		}
		if err := g.validateKeyPackage(a.tree, &a.ctx, a.params, adds[i]); err != nil {
			return fmt.Errorf("%w (Add %d)", err, i)
		}
		return nil
	})
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(adds))
	var credTypes []mls.CredentialType
	for i, kp := range adds {
		leaf := &kp.LeafNode
		id := clientID(leaf)
		if seen[id] {
			return ruled(ErrDuplicateAdd, "Add %d brings the client of an earlier Add", i)
		}
		seen[id] = true
		if !slices.Contains(credTypes, leaf.Credential.Type) {
			credTypes = append(credTypes, leaf.Credential.Type)
		}
		l, err := a.tree.Add(leaf)
		if err != nil {
			return fmt.Errorf("%w (Add %d)", treeRule(err, ErrLeafNode), i)
		}
		a.clients.replace(nil, leaf)
		a.added = append(a.added, l)
	}
	// Each new member supports the credential types of the others (the
	// existing members' were checked against each KeyPackage).
	for i, kp := range adds {
		for _, typ := range credTypes {
			if !kp.LeafNode.Capabilities.SupportsCredential(typ) {
				return ruled(ErrLeafNode, "Add %d does not support the credential type %v of another Add", i, typ)
			}
		}
	}
	return nil
}

// inParallel calls check(i) for every i in [0, n) on GOMAXPROCS goroutines
// and returns the error of the lowest i that failed.
func inParallel(n int, check func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				errs[i] = check(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
