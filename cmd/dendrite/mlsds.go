package main

import (
	"github.com/matrix-org/dendrite/internal/caching"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/sirupsen/logrus"

	mlsclientapi "github.com/matrix-org/dendrite/msc4244/clientapi"
	mlsfederationapi "github.com/matrix-org/dendrite/msc4244/federationapi"
	"github.com/matrix-org/dendrite/msc4244/mlsds"
	"github.com/matrix-org/dendrite/msc4244/mlsds/producers"
)

// registerDeliveryService builds the MLS Delivery Service and registers its
// endpoints, with the client and federation routes that shadow Dendrite's
// for MLS: /createRoom and m.room.encryption state (the MLS rules of room
// creation), /sendToDevice and federation /send (messages to the DS).
func registerDeliveryService(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	cfg := s.cfg
	var federation producers.EDUSender
	if queues, err := mlsfederationapi.OutgoingQueues(monolith.FederationAPI); err == nil {
		federation = queues
	} else {
		logrus.WithError(err).Warn("the MLS Delivery Service relays to other servers through the federation API, one EDU per device")
	}
	ds, err := mlsds.NewInternalAPI(s.processCtx, cfg, s.cm, s.nats, monolith.RoomserverAPI, federation, caching.EnableMetrics)
	if err != nil {
		logrus.WithError(err).Panic("failed to start the MLS Delivery Service")
	}
	mlsds.AddPublicRoutes(routers, cfg, ds, monolith.RoomserverAPI, monolith.UserAPI, monolith.FedClient, monolith.KeyRing, s.fedWakeups)
	mlsclientapi.AddPublicRoutes(s.processCtx, routers, cfg, s.nats, monolith.RoomserverAPI, monolith.AppserviceAPI, monolith.UserAPI, ds)
	mlsfederationapi.AddPublicRoutes(s.processCtx, routers, cfg, s.nats, monolith.UserAPI, monolith.FedClient, monolith.KeyRing, monolith.RoomserverAPI, s.fedWakeups, ds)
	registerDSMembership(s, monolith, ds)
}
