package federationapi

import (
	"fmt"
	"reflect"
	"unsafe"

	dendritefederationapi "github.com/matrix-org/dendrite/federationapi"
	"github.com/matrix-org/dendrite/federationapi/queue"
)

// queuesField is the unexported field of Dendrite's federation internal API
// that holds its outgoing queues.
const queuesField = "queues"

// OutgoingQueues returns the outgoing federation queues of fsAPI, the
// federation internal API that federationapi.NewInternalAPI returned.
// Dendrite does not export them, but they are the only way to send an EDU
// of one's own making durably, with Dendrite's retries and backoff: the
// Delivery Service sends one m.direct_to_device EDU for many devices of a
// server instead of one per device. TestOutgoingQueuesField fails when a
// Dendrite upgrade changes the field.
func OutgoingQueues(fsAPI any) (*queue.OutgoingQueues, error) {
	v := reflect.ValueOf(fsAPI)
	if v.Type() != internalAPIType() {
		return nil, fmt.Errorf("federationapi: %T is not Dendrite's federation internal API", fsAPI)
	}
	field := v.Elem().FieldByName(queuesField)
	if !field.IsValid() || field.Type() != reflect.TypeFor[*queue.OutgoingQueues]() {
		return nil, fmt.Errorf("federationapi: Dendrite's federation internal API has no field %s of type *queue.OutgoingQueues", queuesField)
	}
	queues := reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Interface().(*queue.OutgoingQueues)
	if queues == nil {
		return nil, fmt.Errorf("federationapi: the federation internal API has no queues")
	}
	return queues, nil
}

// internalAPIType is the type federationapi.NewInternalAPI returns, which
// lives in a package of Dendrite's that cannot be imported.
func internalAPIType() reflect.Type {
	return reflect.TypeOf(dendritefederationapi.NewInternalAPI).Out(0)
}
