package internal

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/dendrite/msc4244/client/mlsroom"
	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/cipher"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/codec"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/group"
	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/mlsdstest"
)

// Commits move the group from epoch to epoch: each is fanned out to every
// member, Welcomes to the added devices, and the log and the GroupInfo
// follow.
func TestCommits(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob, carol := k.device(creator, "A"), k.device("@bob:x.example", "B"), k.device("@carol:y.example", "C")
		k.createGroup(alice)
		p1 := k.commit(alice, bob, carol)
		k.accepted(alice, p1, []*device{alice, bob, carol}, bob, carol)
		p2 := k.commit(bob)
		k.accepted(bob, p2, []*device{alice, bob, carol})
		p3 := k.commit(carol)
		k.accepted(carol, p3, []*device{alice, bob, carol})

		if got := k.logSummary(); got != "genesis/0 commit/1 commit/2 commit/3 " {
			t.Fatalf("log: %s", got)
		}
		gi, err := k.ds.GroupInfo(t.Context(), creator, testRoom)
		if err != nil || gi.Epoch != 3 || gi.GroupInfo != encodeBase64(p3.GroupInfo) {
			t.Fatalf("GroupInfo: %+v, %v", gi, err)
		}
		// A retry of an accepted commit gets its m.mls.commit again, to
		// the sender only; the log does not change.
		k.mustReceive(bob, commitContent(testRoom, p2))
		got := k.expect(sent{To: bob.Device, Type: api.EventCommit})
		if got[0].Content.Get("epoch").Uint() != 2 || got[0].Content.Get("message").Str != encodeBase64(p2.Message) {
			t.Fatalf("m.mls.commit of the retry: %s", got[0].Content.Raw)
		}
		if got := k.logSummary(); got != "genesis/0 commit/1 commit/2 commit/3 " {
			t.Fatalf("log after the retry: %s", got)
		}
	})
}

// Every bad commit is refused with its code, and changes nothing.
func TestCommitRejections(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob := k.aliceAndBob()
		log := k.logSummary()

		// Bob's commit for epoch 1 wins; alice's, made for epoch 1 too, is
		// stale.
		stale := k.commit(alice)
		k.accepted(bob, k.commit(bob), []*device{alice, bob})
		alice.state.Drop()
		k.mustReceive(alice, commitContent(testRoom, stale))
		if c := k.rejected(alice, stale.Message, api.ErrWrongEpoch); c.Get("current_epoch").Uint() != 2 {
			t.Fatalf("current_epoch: %s", c.Raw)
		}
		log = k.logSummary()

		p := k.commit(alice)
		forged := mlsdstest.Tamper(t, p.Message, func(m *mls.MLSMessage) { m.PublicMessage.Auth.Signature[0] ^= 1 })
		unknownSender := mlsdstest.Tamper(t, p.Message, func(m *mls.MLSMessage) { m.PublicMessage.Content.Sender.Index = 7 })
		otherGroup := mlsdstest.Tamper(t, p.Message, func(m *mls.MLSMessage) { m.PublicMessage.Content.GroupID = []byte("!other:ds.example") })
		otherGI := k.commit(bob) // a GroupInfo for another commit
		bob.state.Drop()
		for _, tc := range []struct {
			name    string
			from    *device
			content map[string]any
			message []byte
			code    api.ErrCode
		}{
			{"forged signature", alice, withMessage(commitContent(testRoom, p), forged), forged, api.ErrInvalid},
			{"unknown sender", alice, withMessage(commitContent(testRoom, p), unknownSender), unknownSender, api.ErrInvalid},
			{"wrong group", alice, withMessage(commitContent(testRoom, p), otherGroup), otherGroup, api.ErrInvalid},
			{"missing GroupInfo", alice, map[string]any{"room_id": testRoom, "message": encodeBase64(p.Message)}, p.Message, api.ErrBadRequest},
			{"GroupInfo of another commit", alice, withGroupInfo(commitContent(testRoom, p), otherGI.GroupInfo), p.Message, api.ErrInvalid},
			{"GroupInfo that is a commit", alice, withGroupInfo(commitContent(testRoom, p), p.Message), p.Message, api.ErrBadRequest},
			{"bob speaking for alice", bob, commitContent(testRoom, p), p.Message, api.ErrForbidden},
			{"malformed base64", alice, map[string]any{"room_id": testRoom, "message": "%%%"}, []byte("%%%"), api.ErrBadRequest},
		} {
			k.mustReceive(tc.from, tc.content)
			c := k.rejected(tc.from, tc.message, tc.code)
			if c.Get("current_epoch").Uint() != 2 || c.Get("error").Str == "" {
				t.Fatalf("%s: rejection %s", tc.name, c.Raw)
			}
			if got := k.logSummary(); got != log {
				t.Fatalf("%s: log changed to %s", tc.name, got)
			}
		}
		// The genuine commit is still accepted.
		k.accepted(alice, p, []*device{alice, bob})
	})
}

func withMessage(content map[string]any, message []byte) map[string]any {
	content["message"] = encodeBase64(message)
	return content
}

func withGroupInfo(content map[string]any, gi []byte) map[string]any {
	content["commit_info"].(map[string]any)["group_info"] = encodeBase64(gi)
	return content
}

// A member's proposal is fanned out to the group and acknowledged; the next
// commit covers it.
func TestProposal(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob, carol := k.device(creator, "A"), k.device("@bob:x.example", "B"), k.device("@carol:y.example", "C")
		k.createGroup(alice)
		k.accepted(alice, k.commit(alice, bob, carol), []*device{alice, bob, carol}, bob, carol)

		g := memberGroup(t, bob)
		msg, _, err := g.Propose(mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 2}}, group.MessageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		proposal := codec.Marshal(msg)
		content := map[string]any{"room_id": testRoom, "message": encodeBase64(proposal)}
		// Carol cannot send bob's proposal.
		k.mustReceive(carol, content)
		k.rejected(carol, proposal, api.ErrForbidden)

		if bob.state.Group, err = g.MarshalBinary(); err != nil { // bob keeps his own proposal
			t.Fatal(err)
		}
		k.mustReceive(bob, content)
		got := k.expect(
			sent{To: alice.Device, Type: api.EventProposal}, sent{To: bob.Device, Type: api.EventProposal},
			sent{To: carol.Device, Type: api.EventProposal}, sent{To: bob.Device, Type: api.EventAccepted},
		)
		for _, s := range got {
			if s.Content.Get("epoch").Uint() != 1 {
				t.Fatalf("%s: %s", s.Type, s.Content.Raw)
			}
		}
		// A retry is acknowledged again, and not fanned out or logged twice.
		k.mustReceive(bob, content)
		k.expect(sent{To: bob.Device, Type: api.EventAccepted})
		if got := k.logSummary(); got != "genesis/0 commit/1 proposal/1 " {
			t.Fatalf("log: %s", got)
		}

		if err = alice.state.HandleProposal(proposal); err != nil {
			t.Fatal(err)
		}
		// The commit covering the Remove reaches the members after it.
		k.accepted(alice, k.commit(alice), []*device{alice, bob})
		if got := k.logSummary(); got != "genesis/0 commit/1 proposal/1 commit/2 " {
			t.Fatalf("log: %s", got)
		}
	})
}

// The group holds at most maxEpochProposals proposals of its members in
// one epoch: the next one is refused with M_LIMIT_EXCEEDED, logging and
// sending nothing, while the DS's own Remove proposal is still made.
func TestProposalLimit(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob := k.aliceAndBob()

		g := memberGroup(t, bob)
		propose := func(i int) []byte {
			t.Helper()
			// The same Remove each time, made distinct by its authenticated
			// data, so that the DS does not take it for a retry.
			msg, _, err := g.Propose(mls.Proposal{Type: mls.ProposalRemove, Remove: &mls.Remove{Removed: 0}},
				group.MessageOptions{AuthenticatedData: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Fatal(err)
			}
			return codec.Marshal(msg)
		}
		for i := range maxEpochProposals {
			k.mustReceive(bob, map[string]any{"room_id": testRoom, "message": encodeBase64(propose(i))})
		}
		accepted := 0
		for _, s := range k.mail.take() {
			if s.Type == api.EventAccepted {
				accepted++
			}
		}
		if accepted != maxEpochProposals {
			t.Fatalf("%d proposals accepted, want %d", accepted, maxEpochProposals)
		}
		over := propose(maxEpochProposals)
		k.mustReceive(bob, map[string]any{"room_id": testRoom, "message": encodeBase64(over)})
		k.rejected(bob, over, api.ErrLimitExceeded)
		if err := k.ds.RemoveUser(t.Context(), testRoom, bob.UserID); err != nil {
			t.Fatalf("RemoveUser: %v", err)
		}
		k.expect(sent{To: alice.Device, Type: api.EventProposal}, sent{To: bob.Device, Type: api.EventProposal})
		if got := strings.Count(k.logSummary(), "proposal/1 "); got != maxEpochProposals+1 {
			t.Fatalf("%d proposals logged, want %d", got, maxEpochProposals+1)
		}
	})
}

// A required Remove does not keep a new device from joining by external
// commit, which cannot cover it (RFC 9420 §12.4.3.2): the external commit
// is accepted, the DS proposes the Remove again in the epoch it creates,
// and the next member commit must cover it.
func TestRemovalCarriedOverExternalCommit(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, phone, laptop := k.device(creator, "A"), k.device(creator, "PHONE"), k.device(creator, "LAPTOP")
		k.createGroup(alice)
		add := k.commit(alice, phone)
		k.accepted(alice, add, []*device{alice, phone}, phone)
		if err := k.ds.RemoveDevice(t.Context(), testRoom, phone.Device); err != nil {
			t.Fatalf("RemoveDevice: %v", err)
		}
		k.expect(sent{To: alice.Device, Type: api.EventProposal}, sent{To: phone.Device, Type: api.EventProposal})

		state, err := mlsroom.JoinExternal(laptop.id, add.GroupInfo, nil)
		if err != nil {
			t.Fatal(err)
		}
		join := state.Pending
		k.mustReceive(laptop, commitContent(testRoom, join))
		var got []sent
		for deadline := time.Now().Add(10 * time.Second); len(got) < 6 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got = append(got, k.mail.take()...)
		}
		count := map[string]int{}
		for _, m := range got {
			count[m.Type]++
			if m.Type == api.EventProposal && m.Content.Get("epoch").Uint() != join.Epoch {
				t.Fatalf("the Remove is proposed again for epoch %d, not %d", m.Content.Get("epoch").Uint(), join.Epoch)
			}
		}
		if count[api.EventCommit] != 3 || count[api.EventProposal] != 3 {
			t.Fatalf("sent %v, want the external commit and the proposal to alice, the phone and the laptop", count)
		}
		if got := k.logSummary(); got != "genesis/0 commit/1 proposal/1 commit/2 proposal/2 " {
			t.Fatalf("log: %s", got)
		}

		// Alice's commit that leaves the new proposal out is refused.
		if _, err = alice.state.HandleCommit(join.Message, join.Epoch); err != nil {
			t.Fatal(err)
		}
		skip := k.commit(alice)
		k.mustReceive(alice, commitContent(testRoom, skip))
		k.rejected(alice, skip.Message, api.ErrPendingRemovals)
	})
}

// 64 members commit for the same epoch at once: exactly one commit is
// accepted and fanned out, the 63 others are refused with the new epoch,
// and the log has one commit for that epoch.
func TestCommitRace(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		const n = 64
		devices := make([]*device, n)
		for i := range devices {
			devices[i] = k.device(fmt.Sprintf("@user%02d:x.example", i), "D")
		}
		devices[0] = k.device(creator, "A")
		k.createGroup(devices[0])
		k.accepted(devices[0], k.commit(devices[0], devices[1:]...), devices, devices[1:]...)

		pending := make([]*mlsroom.Pending, n)
		for i, d := range devices {
			pending[i] = k.commit(d)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, d := range devices {
			wg.Go(func() {
				<-start
				if err := k.receive(d, commitContent(testRoom, pending[i])); err != nil {
					t.Errorf("device %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()

		got := k.mail.take()
		commits, rejections := map[string]int{}, 0
		for _, s := range got {
			switch s.Type {
			case api.EventCommit:
				commits[s.Content.Get("message").Str+s.Content.Get("message_sha256").Str]++
			case api.EventRejected:
				rejections++
				if s.Content.Get("errcode").Str != string(api.ErrWrongEpoch) || s.Content.Get("current_epoch").Uint() != 2 {
					t.Fatalf("rejection: %s", s.Content.Raw)
				}
			default:
				t.Fatalf("unexpected %s", s.Type)
			}
		}
		if len(commits) != 1 || rejections != n-1 {
			t.Fatalf("%d different commits fanned out, %d rejections; want 1 and %d", len(commits), rejections, n-1)
		}
		for _, count := range commits {
			if count != n {
				t.Fatalf("the accepted commit reached %d devices, want %d", count, n)
			}
		}
		if got := k.logSummary(); got != "genesis/0 commit/1 commit/2 " {
			t.Fatalf("log: %s", got)
		}
	})
}

// A user with a device in the group may read the log even without a
// Matrix membership (such as an invitee whose invite is still on its
// way); once removed from the group, no more.
func TestRecoveryByGroupMembers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob := k.device(creator, "A"), k.device("@bob:x.example", "B")
		k.rs.setMembership(bob.UserID, "")
		k.createGroup(alice)
		if _, err := k.ds.Commits(t.Context(), bob.UserID, testRoom, 0, 10); !errors.Is(err, api.ErrNotAllowed) {
			t.Fatalf("bob before his Add: %v, want ErrNotAllowed", err)
		}
		k.accepted(alice, k.commit(alice, bob), []*device{alice, bob}, bob)
		if _, err := k.ds.GroupInfo(t.Context(), bob.UserID, testRoom); err != nil {
			t.Fatalf("bob in the group: %v", err)
		}
		p, err := alice.state.Commit(mlsroom.CommitRequest{Remove: []mlsroom.Device{{UserID: bob.UserID, DeviceID: bob.DeviceID}}})
		if err != nil {
			t.Fatal(err)
		}
		k.accepted(alice, p, []*device{alice})
		if _, err := k.ds.Commits(t.Context(), bob.UserID, testRoom, 0, 10); !errors.Is(err, api.ErrNotAllowed) {
			t.Fatalf("bob after his removal: %v, want ErrNotAllowed", err)
		}
	})
}

// A commit above the inline bounds goes to devices as its digest; each
// device reads it from the log by its epoch, as the recovery endpoints do.
func TestCommitByReference(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, k *kit) {
		alice, bob := k.aliceAndBob()
		for _, s := range k.mail.take() {
			t.Fatalf("left over: %+v", s)
		}

		// Its authenticated data makes the commit larger than an inline
		// commit may be.
		p, err := bob.state.Commit(mlsroom.CommitRequest{AAD: make([]byte, maxInlineCommit)})
		if err != nil {
			t.Fatal(err)
		}
		k.mustReceive(bob, commitContent(testRoom, p))
		for _, s := range k.expect(sent{To: alice.Device, Type: api.EventCommit}, sent{To: bob.Device, Type: api.EventCommit}) {
			c := s.Content
			if c.Get("message").Exists() || c.Get("message_sha256").Str != digest(p.Message) || c.Get("epoch").Uint() != 2 ||
				c.Get("sender.device_id").Str != bob.DeviceID || c.Get("room_id").Str != testRoom {
				t.Fatalf("m.mls.commit by reference: %s", c.Raw)
			}
		}
		entry, err := k.ds.Commit(t.Context(), alice.UserID, testRoom, 2)
		if err != nil || entry.Kind != api.KindCommit || entry.Epoch != 2 || entry.Sender != bob.Device || entry.Message != encodeBase64(p.Message) {
			t.Fatalf("Commit(2): %+v, %v", entry, err)
		}
		if entry, err = k.ds.Commit(t.Context(), alice.UserID, testRoom, 0); err != nil || entry.Kind != api.KindGenesis {
			t.Fatalf("Commit(0): %+v, %v", entry, err)
		}
		if _, err = k.ds.Commit(t.Context(), alice.UserID, testRoom, 3); !errors.Is(err, api.ErrNoCommit) {
			t.Fatalf("Commit(3): %v, want ErrNoCommit", err)
		}
		if _, err = k.ds.Commit(t.Context(), "@eve:x.example", testRoom, 2); !errors.Is(err, api.ErrNotAllowed) {
			t.Fatalf("Commit by a stranger: %v, want ErrNotAllowed", err)
		}
		k.rs.addRoom(t, "!other:ds.example")
		if _, err = k.ds.Commit(t.Context(), alice.UserID, "!other:ds.example", 0); !errors.Is(err, api.ErrNoGroup) {
			t.Fatalf("Commit without a group: %v, want ErrNoGroup", err)
		}

		// A retry of the commit is answered by reference too.
		k.mustReceive(bob, commitContent(testRoom, p))
		if c := k.expect(sent{To: bob.Device, Type: api.EventCommit})[0].Content; c.Get("message_sha256").Str != digest(p.Message) {
			t.Fatalf("retry: %s", c.Raw)
		}
	})
}

func TestByReference(t *testing.T) {
	for _, tc := range []struct {
		size, recipients int
		want             bool
	}{
		{158, 1000, false},
		{maxInlineCommit, 1, false},
		{maxInlineCommit + 1, 1, true},
		{2 << 10, 1024, false},
		{2<<10 + 1, 1024, true},
		{1500, 1000, false},
		{3000, 1000, true},
	} {
		if got := byReference(tc.size, tc.recipients); got != tc.want {
			t.Errorf("byReference(%d, %d) = %v", tc.size, tc.recipients, got)
		}
	}
}

// The DS runs groups in every cipher suite of RFC 9420: a genesis with its
// external sender of the group's suite, commits, and its own Remove
// proposal, signed with its key of that suite, which members accept and
// commit.
func TestEverySuite(t *testing.T) {
	for _, suite := range cipher.IDs() {
		t.Run(suite.String(), func(t *testing.T) {
			k := newKit(t, "sqlite")
			alice, bob := k.deviceIn(creator, "A", suite), k.deviceIn("@bob:x.example", "B", suite)
			k.createGroup(alice)
			k.accepted(alice, k.commit(alice, bob), []*device{alice, bob}, bob)
			k.accepted(bob, k.commit(bob), []*device{alice, bob})

			if err := k.ds.RemoveUser(t.Context(), testRoom, bob.UserID); err != nil {
				t.Fatalf("RemoveUser: %v", err)
			}
			got := k.expect(sent{To: alice.Device, Type: api.EventProposal}, sent{To: bob.Device, Type: api.EventProposal})
			proposal, err := decodeBase64(got[0].Content.Get("message").Str)
			if err != nil {
				t.Fatal(err)
			}
			if err = alice.state.HandleProposal(proposal); err != nil {
				t.Fatalf("alice takes the DS's Remove proposal: %v", err)
			}
			k.accepted(alice, k.commit(alice), []*device{alice})
			if got := k.logSummary(); got != "genesis/0 commit/1 commit/2 proposal/2 commit/3 " {
				t.Fatalf("log: %s", got)
			}
		})
	}
}
