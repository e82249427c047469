package federationapi

import (
	"reflect"
	"testing"

	"github.com/matrix-org/dendrite/federationapi/queue"
)

// The Delivery Service relies on an unexported field of Dendrite's
// federation internal API; a Dendrite upgrade that changes it must fail
// here, not in production.
func TestOutgoingQueuesField(t *testing.T) {
	typ := internalAPIType()
	if typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct {
		t.Fatalf("federationapi.NewInternalAPI returns %s, not a pointer to a struct", typ)
	}
	field, ok := typ.Elem().FieldByName(queuesField)
	if !ok || field.Type != reflect.TypeFor[*queue.OutgoingQueues]() {
		t.Fatalf("%s has no field %s of type *queue.OutgoingQueues", typ.Elem(), queuesField)
	}
	if _, err := OutgoingQueues(struct{}{}); err == nil {
		t.Fatal("OutgoingQueues accepted another type")
	}
}
