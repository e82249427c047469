package main

import (
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/sirupsen/logrus"

	"github.com/matrix-org/dendrite/msc4244/keyserver"
)

// registerKeyServer wires in the keyserver (MLS KeyPackages): its routes,
// its /sync middleware, and its user API decorator, which replaces
// monolith.UserAPI. It runs first among our components, so that all of them
// and Dendrite's public routes get the decorator.
func registerKeyServer(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	if err := keyserver.Setup(s.processCtx, s.cfg, s.cm, monolith, routers, s.fedWakeups); err != nil {
		logrus.WithError(err).Panic("failed to start the keyserver")
	}
}
