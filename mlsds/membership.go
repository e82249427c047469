package mlsds

import (
	"fmt"

	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/setup/process"
	"github.com/matrix-org/gomatrixserverlib"

	"github.com/matrix-org/dendrite/msc4244/mlsds/api"
	"github.com/matrix-org/dendrite/msc4244/mlsds/consumers"
	"github.com/matrix-org/dendrite/msc4244/mlsds/internal"
)

// StartMembership wires the membership machinery into ds
// (docs/membership.md): rules checks the Matrix side of the commits that
// bring users into groups, a consumer of the roomserver's output has the DS
// remove the devices of users who leave rooms of roomVersion, are kicked or
// banned, and a consumer of the user API's key changes has it remove
// deleted devices.
func StartMembership(
	processCtx *process.ProcessContext, cfg *config.Dendrite, natsInstance *jetstream.NATSInstance,
	ds api.DeliveryServiceAPI, rules api.MembershipRules, roomVersion gomatrixserverlib.RoomVersion,
	rooms consumers.RoomLister, devices consumers.DeviceLister,
) error {
	d, ok := ds.(*internal.DeliveryService)
	if !ok {
		return fmt.Errorf("mlsds: %T is not this package's Delivery Service", ds)
	}
	d.SetMembership(rules)
	js, _ := natsInstance.Prepare(processCtx, &cfg.Global.JetStream)
	if err := consumers.NewOutputRoomEventConsumer(processCtx.Context(), &cfg.Global.JetStream, js, roomVersion, d).Start(); err != nil {
		return err
	}
	return consumers.NewDeletedDeviceConsumer(processCtx.Context(), cfg, js, rooms, devices, d).Start()
}
