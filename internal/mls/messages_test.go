package mls_test

import (
	"fmt"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
	"github.com/matrix-org/dendrite/msc4244/internal/mls/mlstest"
)

// messagesCase is one case of messages.json (UPSTREAM-FORMAT.md "Messages").
type messagesCase struct {
	Welcome                  mlstest.Hex `json:"mls_welcome"`
	GroupInfo                mlstest.Hex `json:"mls_group_info"`
	KeyPackage               mlstest.Hex `json:"mls_key_package"`
	RatchetTree              mlstest.Hex `json:"ratchet_tree"`
	GroupSecrets             mlstest.Hex `json:"group_secrets"`
	Add                      mlstest.Hex `json:"add_proposal"`
	Update                   mlstest.Hex `json:"update_proposal"`
	Remove                   mlstest.Hex `json:"remove_proposal"`
	PreSharedKey             mlstest.Hex `json:"pre_shared_key_proposal"`
	ReInit                   mlstest.Hex `json:"re_init_proposal"`
	ExternalInit             mlstest.Hex `json:"external_init_proposal"`
	GroupContextExtensions   mlstest.Hex `json:"group_context_extensions_proposal"`
	Commit                   mlstest.Hex `json:"commit"`
	PublicMessageApplication mlstest.Hex `json:"public_message_application"`
	PublicMessageProposal    mlstest.Hex `json:"public_message_proposal"`
	PublicMessageCommit      mlstest.Hex `json:"public_message_commit"`
	PrivateMessage           mlstest.Hex `json:"private_message"`
}

// messageField is one field of a case: its bytes, the type to decode it as
// and what the decoded value must satisfy.
type messageField struct {
	name  string
	data  []byte
	value wireValue
	check func(v wireValue) error
}

// wantMessage checks an MLSMessage's wire format and, unless ct is 0, its
// content type.
func wantMessage(wf mls.WireFormat, ct mls.ContentType) func(v wireValue) error {
	return func(v wireValue) error {
		m := v.(*mls.MLSMessage)
		if m.WireFormat != wf {
			return fmt.Errorf("wire format %v, want %v", m.WireFormat, wf)
		}
		if ct != 0 && m.ContentType() != ct {
			return fmt.Errorf("content type %v, want %v", m.ContentType(), ct)
		}
		return nil
	}
}

func (c *messagesCase) fields() []messageField {
	return []messageField{
		{"mls_welcome", c.Welcome, new(mls.MLSMessage), wantMessage(mls.WireFormatWelcome, 0)},
		{"mls_group_info", c.GroupInfo, new(mls.MLSMessage), wantMessage(mls.WireFormatGroupInfo, 0)},
		{"mls_key_package", c.KeyPackage, new(mls.MLSMessage), wantMessage(mls.WireFormatKeyPackage, 0)},
		{"ratchet_tree", c.RatchetTree, new(mls.RatchetTree), nil},
		{"group_secrets", c.GroupSecrets, new(mls.GroupSecrets), nil},
		{"add_proposal", c.Add, new(mls.Add), nil},
		{"update_proposal", c.Update, new(mls.Update), nil},
		{"remove_proposal", c.Remove, new(mls.Remove), nil},
		{"pre_shared_key_proposal", c.PreSharedKey, new(mls.PreSharedKey), nil},
		{"re_init_proposal", c.ReInit, new(mls.ReInit), nil},
		{"external_init_proposal", c.ExternalInit, new(mls.ExternalInit), nil},
		{"group_context_extensions_proposal", c.GroupContextExtensions, new(mls.GroupContextExtensions), nil},
		{"commit", c.Commit, new(mls.Commit), nil},
		{"public_message_application", c.PublicMessageApplication, new(mls.MLSMessage), wantMessage(mls.WireFormatPublicMessage, mls.ContentApplication)},
		{"public_message_proposal", c.PublicMessageProposal, new(mls.MLSMessage), wantMessage(mls.WireFormatPublicMessage, mls.ContentProposal)},
		{"public_message_commit", c.PublicMessageCommit, new(mls.MLSMessage), wantMessage(mls.WireFormatPublicMessage, mls.ContentCommit)},
		{"private_message", c.PrivateMessage, new(mls.MLSMessage), wantMessage(mls.WireFormatPrivateMessage, 0)},
	}
}

// TestMessagesVectors decodes every field of every case of messages.json and
// re-encodes it byte-identically.
func TestMessagesVectors(t *testing.T) {
	var cases []messagesCase
	mlstest.Load(t, "messages.json", &cases)
	if len(cases) != 300 {
		t.Fatalf("%d cases, want 300", len(cases))
	}
	decoded := 0
	for i := range cases {
		for _, f := range cases[i].fields() {
			what := fmt.Sprintf("case %d %s", i, f.name)
			if len(f.data) == 0 {
				t.Errorf("%s: empty", what)
				continue
			}
			if !roundTrip(t, what, f.data, f.value) {
				continue
			}
			if f.check != nil {
				if err := f.check(f.value); err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
			}
			decoded++
		}
	}
	if want := 300 * len(cases[0].fields()); decoded != want {
		t.Errorf("%d fields decoded, want %d", decoded, want)
	}
}
