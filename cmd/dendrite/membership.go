package main

import (
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"

	mlsfedrouting "github.com/matrix-org/dendrite/msc4244/federationapi/routing"
	mlsroomserver "github.com/matrix-org/dendrite/msc4244/roomserver"
	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
)

// setMembershipSender gives the roomserver decorator what sends the member
// events of MLS rooms (docs/membership.md).
func setMembershipSender(s *shared, rsAPI *mlsroomserver.Decorator, fedClient fclient.FederationClient, keyRing gomatrixserverlib.JSONVerifier) {
	g := &s.cfg.Global
	rsAPI.SetMembershipSender(&membership.Sender{
		Config:     g,
		RoomServer: rsAPI,
		Invites:    &membership.InviteClient{Config: g, Client: fedClient, KeyRing: keyRing},
	})
}

// registerMembership registers the federation routes of the MLS membership
// rule: invites checked against their auth events, join templates with the
// history visibility, refused joins answered 403.
func registerMembership(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	mlsfedrouting.SetupMembership(routers, mlsfedrouting.MembershipDeps{
		Config:        s.cfg,
		RoomserverAPI: monolith.RoomserverAPI,
		KeyRing:       monolith.KeyRing,
		Wakeups:       s.fedWakeups,
	})
}
