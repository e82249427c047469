package routing

import (
	"encoding/json"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// seenCapacity bounds how many to-device message ids one generation of
// seenMessages remembers; two generations are kept.
const seenCapacity = 1 << 16

// seenMessages remembers the message_id of m.direct_to_device EDUs already
// delivered, per origin server. The spec makes message_id the idempotence
// key of to-device messages, but Dendrite deduplicates only whole
// transactions by transaction id: an EDU that a sending server queues again
// travels in a new transaction and would reach the devices twice. Memory is
// bounded by keeping two generations of ids: a duplicate arriving within
// roughly the last seenCapacity messages is dropped.
type seenMessages struct {
	mu       sync.Mutex
	current  map[string]struct{}
	previous map[string]struct{}
}

func newSeenMessages() *seenMessages {
	return &seenMessages{current: map[string]struct{}{}}
}

func seenKey(origin spec.ServerName, messageID string) string {
	return string(origin) + "\x00" + messageID
}

func (s *seenMessages) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, inCurrent := s.current[key]
	_, inPrevious := s.previous[key]
	return inCurrent || inPrevious
}

func (s *seenMessages) add(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if len(s.current) >= seenCapacity {
			s.previous, s.current = s.current, map[string]struct{}{}
		}
		s.current[k] = struct{}{}
	}
}

// filter returns fedReq without the to-device EDUs already delivered, and
// the keys of those it keeps, to be recorded once the transaction has been
// handled. A transaction without duplicates is returned unchanged.
func (s *seenMessages) filter(fedReq *fclient.FederationRequest) (*fclient.FederationRequest, []string, error) {
	content := fedReq.Content()
	edus := gjson.GetBytes(content, "edus")
	if !edus.IsArray() {
		return fedReq, nil, nil
	}
	var keep []json.RawMessage
	var keys []string
	dropped := false
	for _, edu := range edus.Array() {
		if edu.Get("type").String() == spec.MDirectToDevice {
			if id := edu.Get("content.message_id"); id.Type == gjson.String && id.String() != "" {
				key := seenKey(fedReq.Origin(), id.String())
				if s.has(key) {
					dropped = true
					continue
				}
				keys = append(keys, key)
			}
		}
		keep = append(keep, json.RawMessage(edu.Raw))
	}
	if !dropped {
		return fedReq, keys, nil
	}
	var txn map[string]json.RawMessage
	if err := json.Unmarshal(content, &txn); err != nil {
		return nil, nil, err
	}
	if keep == nil {
		keep = []json.RawMessage{}
	}
	rewritten, err := json.Marshal(keep)
	if err != nil {
		return nil, nil, err
	}
	txn["edus"] = rewritten
	out := fclient.NewFederationRequest(fedReq.Method(), fedReq.Origin(), fedReq.Destination(), fedReq.RequestURI())
	if err := out.SetContent(txn); err != nil {
		return nil, nil, err
	}
	return &out, keys, nil
}
