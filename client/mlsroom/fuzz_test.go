package mlsroom

import (
	"bytes"
	"testing"
)

// fuzzState returns the stored state of bob, a member of a two-member
// group, his identity, and messages of that group as seeds: an
// application message, a commit, a GroupInfo, a Welcome and a KeyPackage.
func fuzzState(t testing.TB) ([]byte, *Identity, [][]byte) {
	_, alice, bob, p := twoMembers(t)
	msg := alice.send("seed")
	next, err := alice.state.Commit(CommitRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, bob.state), bob.id, [][]byte{msg, next.Message, next.GroupInfo, p.Welcome, p.GroupInfo, bob.kps[0].Message}
}

// FuzzInputs gives any bytes to every decoder of received material: no
// panic, and a failed call leaves the state as it was.
func FuzzInputs(f *testing.F) {
	stored, id, seeds := fuzzState(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var state State
		reset := func() {
			state = State{}
			unmarshalJSON(t, stored, &state)
		}
		reset()
		unchanged := func(op string, err error) {
			if err != nil && !bytes.Equal(mustJSON(t, &state), stored) {
				t.Fatalf("a failed %s changed the state", op)
			}
		}
		_, err := state.Decrypt(data)
		unchanged("Decrypt", err)
		reset()
		_, err = state.HandleCommit(data, state.Epoch+1)
		unchanged("HandleCommit", err)
		reset()
		unchanged("HandleProposal", state.HandleProposal(data))
		_, _, _ = Join(id, data, nil)
		_, _ = JoinExternal(id, data, nil)
		_ = ClaimedKeyPackage(data, id.Device)
		_, _ = AuthenticatedData(data)
	})
}
