package main

import (
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/setup"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/sirupsen/logrus"

	mlsclientrouting "github.com/matrix-org/dendrite/msc4244/clientapi/routing"
	mlsfedrouting "github.com/matrix-org/dendrite/msc4244/federationapi/routing"
	"github.com/matrix-org/dendrite/msc4244/mlsds"
	mlsdsapi "github.com/matrix-org/dendrite/msc4244/mlsds/api"
	mlsroomserver "github.com/matrix-org/dendrite/msc4244/roomserver"
	"github.com/matrix-org/dendrite/msc4244/roomserver/membership"
)

// setMembershipSender gives the roomserver decorator what sends the member
// events of MLS rooms (docs/membership.md).
func setMembershipSender(s *shared, rsAPI *mlsroomserver.Decorator, fedClient fclient.FederationClient, keyRing gomatrixserverlib.JSONVerifier) {
	rsAPI.SetMembershipSender(membershipSender(s, rsAPI, fedClient, keyRing))
}

// membershipSender builds and sends the member events of MLS rooms.
func membershipSender(s *shared, rsAPI membership.RoomServer, fedClient fclient.FederationClient, keyRing gomatrixserverlib.JSONVerifier) *membership.Sender {
	g := &s.cfg.Global
	return &membership.Sender{
		Config:     g,
		RoomServer: rsAPI,
		Invites:    &membership.InviteClient{Config: g, Client: fedClient, KeyRing: keyRing},
	}
}

// registerDSMembership gives the DS the Matrix side of membership commits
// and has it remove the devices of users who leave MLS rooms and deleted
// devices; joins
// carrying a commit are checked with the room's DS.
func registerDSMembership(s *shared, monolith *setup.Monolith, ds mlsdsapi.DeliveryServiceAPI) {
	rules := &membership.DSRules{
		Sender: membershipSender(s, monolith.RoomserverAPI, monolith.FedClient, monolith.KeyRing),
		State:  monolith.RoomserverAPI,
		Remote: &membership.DSClient{Config: &s.cfg.Global, Client: monolith.FedClient},
	}
	if err := mlsds.StartMembership(s.processCtx, s.cfg, s.nats, ds, rules, mlsroomserver.RoomVersion, monolith.RoomserverAPI, monolith.UserAPI); err != nil {
		logrus.WithError(err).Panic("failed to start the MLS membership machinery of the Delivery Service")
	}
	rsAPI, ok := monolith.RoomserverAPI.(*mlsroomserver.Decorator)
	if !ok {
		logrus.Panicf("the monolith's roomserver API is a %T, not the decorator", monolith.RoomserverAPI)
	}
	rsAPI.SetJoinAcceptance(&membership.Acceptance{Config: &s.cfg.Global, DS: ds, State: rsAPI, Remote: rules.Remote})
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
		Members:       membershipSender(s, monolith.RoomserverAPI, monolith.FedClient, monolith.KeyRing),
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
