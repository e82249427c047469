package main

import (
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"

	mlsclientrouting "github.com/matrix-org/dendrite/msc4244/clientapi/routing"
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
// rule (invites checked against their auth events, join templates with the
// history visibility, refused joins answered 403) and the client and
// federation routes of knocking.
func registerMembership(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	knocker := &membership.Knocker{
		Config:     &s.cfg.Global,
		RoomServer: monolith.RoomserverAPI,
		Federation: monolith.FedClient,
		KeyRing:    monolith.KeyRing,
	}
	mlsfedrouting.SetupMembership(routers, mlsfedrouting.MembershipDeps{
		Config:        s.cfg,
		RoomserverAPI: monolith.RoomserverAPI,
		KeyRing:       monolith.KeyRing,
		Wakeups:       s.fedWakeups,
		Knocker:       knocker,
	})
	mlsclientrouting.SetupKnock(routers, mlsclientrouting.KnockDeps{
		Config:        s.cfg,
		UserAPI:       monolith.UserAPI,
		RoomserverAPI: monolith.RoomserverAPI,
		AppserviceAPI: monolith.AppserviceAPI,
		FedClient:     monolith.FedClient,
		Knocker:       knocker,
	})
}
