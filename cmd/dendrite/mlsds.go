package main

import (
	"github.com/matrix-org/dendrite/internal/caching"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/sirupsen/logrus"

	mlsclientapi "github.com/matrix-org/dendrite/msc4244/clientapi"
	mlsfederationapi "github.com/matrix-org/dendrite/msc4244/federationapi"
	"github.com/matrix-org/dendrite/msc4244/mlsds"
)

// registerDeliveryService builds the MLS Delivery Service and registers its
// endpoints, with the client and federation routes that shadow Dendrite's
// for MLS: /createRoom and m.room.encryption state (the MLS rules of room
// creation), /sendToDevice and federation /send (messages to the DS).
func registerDeliveryService(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	cfg := s.cfg
	ds, err := mlsds.NewInternalAPI(s.processCtx, cfg, s.cm, s.nats, monolith.RoomserverAPI, monolith.UserAPI, caching.EnableMetrics)
	if err != nil {
		logrus.WithError(err).Panic("failed to start the MLS Delivery Service")
	}
	mlsds.AddPublicRoutes(routers, cfg, ds, monolith.RoomserverAPI, monolith.UserAPI, monolith.FedClient, monolith.KeyRing, s.fedWakeups)
	mlsclientapi.AddPublicRoutes(s.processCtx, routers, cfg, s.nats, monolith.RoomserverAPI, monolith.AppserviceAPI, monolith.UserAPI, ds)
	mlsfederationapi.AddPublicRoutes(s.processCtx, routers, cfg, s.nats, monolith.UserAPI, monolith.FedClient, monolith.KeyRing, monolith.RoomserverAPI, s.fedWakeups, ds)
	registerDSMembership(s, monolith, ds)
}
