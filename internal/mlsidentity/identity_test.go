package mlsidentity

import (
	"errors"
	"testing"

	"github.com/matrix-org/dendrite/msc4244/internal/mls"
)

func TestRoundTrip(t *testing.T) {
	c := Credential("@alice:example.org", "DEV|ICE")
	user, device, err := Parse(&c)
	if err != nil || user != "@alice:example.org" || device != "DEV|ICE" {
		t.Fatalf("Parse(%q) = %q, %q, %v", c.Identity, user, device, err)
	}
}

func TestParseRefuses(t *testing.T) {
	basic := func(id string) mls.Credential { return mls.Credential{Type: mls.CredentialBasic, Identity: []byte(id)} }
	for _, c := range []mls.Credential{
		basic(""),
		basic("no-bar"),
		basic("@alice:example.org"),
		basic("@alice:example.org|"),
		basic("alice|DEVICE"),
		basic("@alice|DEVICE"),
		basic("@:example.org|DEVICE"),
		basic("@:example.org|"),
		{Type: mls.CredentialX509, Certificates: [][]byte{{1}}},
	} {
		if user, device, err := Parse(&c); !errors.Is(err, ErrNotDevice) {
			t.Errorf("Parse(%q) = %q, %q, %v; want ErrNotDevice", c.Identity, user, device, err)
		}
	}
}

// Whatever Parse accepts is a device whose encoding is the identity it
// parsed.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"@alice:example.org|DEV", "@a:hs|D|X", "@:example.org|D", "no-bar", "@alice:example.org|", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, identity []byte) {
		c := mls.Credential{Type: mls.CredentialBasic, Identity: identity}
		user, device, err := Parse(&c)
		if err != nil {
			if !errors.Is(err, ErrNotDevice) {
				t.Fatalf("Parse(%q): %v does not wrap ErrNotDevice", identity, err)
			}
			return
		}
		if got := Encode(user, device); string(got) != string(identity) {
			t.Fatalf("Parse(%q) = %q, %q, which encode as %q", identity, user, device, got)
		}
	})
}
