package main

import (
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/matrix-org/dendrite/appservice"
	"github.com/matrix-org/dendrite/federationapi"
	fedrouting "github.com/matrix-org/dendrite/federationapi/routing"
	"github.com/matrix-org/dendrite/internal"
	"github.com/matrix-org/dendrite/internal/caching"
	"github.com/matrix-org/dendrite/internal/httputil"
	"github.com/matrix-org/dendrite/internal/sqlutil"
	dendriteroomserver "github.com/matrix-org/dendrite/roomserver"
	"github.com/matrix-org/dendrite/setup"
	basepkg "github.com/matrix-org/dendrite/setup/base"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/matrix-org/dendrite/setup/jetstream"
	"github.com/matrix-org/dendrite/setup/mscs"
	"github.com/matrix-org/dendrite/setup/process"
	"github.com/matrix-org/dendrite/userapi"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	mlsroomserver "github.com/matrix-org/dendrite/msc4244/roomserver"
)

// shared are the process-wide resources every component is built from.
type shared struct {
	processCtx *process.ProcessContext
	cfg        *config.Dendrite
	cm         *sqlutil.Connections
	nats       *jetstream.NATSInstance
	caches     *caching.Caches
	dnsCache   *fclient.DNSCache
	// fedWakeups is what federation routes report incoming servers to;
	// it needs the concrete federation API, which only buildMonolith sees.
	fedWakeups *fedrouting.FederationWakeups
}

// serve builds every component, registers the routes and serves until a
// shutdown signal arrives.
func serve(cfg *config.Dendrite, addrs listeners) {
	processCtx := process.NewProcessContext()
	setupLogging(cfg)
	defer setupTracing(cfg).Close() // nolint: errcheck
	setupSentry(cfg, processCtx)

	s := &shared{
		processCtx: processCtx,
		cfg:        cfg,
		cm:         sqlutil.NewConnectionManager(processCtx, cfg.Global.DatabaseOptions),
		nats:       &jetstream.NATSInstance{},
		caches:     caching.NewRistrettoCache(cfg.Global.Cache.EstimatedMaxSize, cfg.Global.Cache.MaxAge, caching.EnableMetrics),
		dnsCache:   newDNSCache(cfg),
	}
	monolith := buildMonolith(s)

	routers := httputil.NewRouters()
	// Our routes first: gorilla/mux serves the first route that matches.
	registerMLSRoutes(s, monolith, routers)
	monolith.AddAllPublicRoutes(processCtx, cfg, routers, s.cm, s.nats, s.caches, caching.EnableMetrics)
	if len(cfg.MSCs.MSCs) > 0 {
		if err := mscs.Enable(cfg, s.cm, routers, monolith, s.caches); err != nil {
			logrus.WithError(err).Fatal("Failed to enable MSCs")
		}
	}
	registerUpMetric()

	go basepkg.SetupAndServeHTTP(processCtx, cfg, routers, addrs.http, nil, nil)
	if addrs.https.Enabled() {
		go basepkg.SetupAndServeHTTP(processCtx, cfg, routers, addrs.https, certFile, keyFile)
	}
	basepkg.WaitForShutdown(processCtx)
}

// buildMonolith builds Dendrite's components in upstream's order. Every
// component receives our roomserver decorator; the roomserver's own setters
// are called on the concrete roomserver.
func buildMonolith(s *shared) *setup.Monolith {
	cfg := s.cfg
	fedClient := basepkg.CreateFederationClient(cfg, s.dnsCache)

	rsImpl := dendriteroomserver.NewInternalAPI(s.processCtx, cfg, s.cm, s.nats, s.caches, caching.EnableMetrics)
	rsAPI := mlsroomserver.Decorate(rsImpl)

	fsAPI := federationapi.NewInternalAPI(s.processCtx, cfg, s.cm, s.nats, fedClient, rsAPI, s.caches, nil, false)
	keyRing := fsAPI.KeyRing()
	rsImpl.SetFederationAPI(fsAPI, keyRing)
	setMembershipSender(s, rsAPI, fedClient, keyRing)
	s.fedWakeups = &fedrouting.FederationWakeups{FsAPI: fsAPI}

	userAPI := userapi.NewInternalAPI(s.processCtx, cfg, s.cm, s.nats, rsAPI, fedClient, caching.EnableMetrics, fsAPI.IsBlacklistedOrBackingOff)
	asAPI := appservice.NewInternalAPI(s.processCtx, cfg, s.nats, userAPI, rsAPI)
	rsImpl.SetAppserviceAPI(asAPI)
	rsImpl.SetUserAPI(userAPI)

	return &setup.Monolith{
		Config:        cfg,
		Client:        basepkg.CreateClient(cfg, s.dnsCache),
		FedClient:     fedClient,
		KeyRing:       keyRing,
		AppserviceAPI: asAPI,
		// The concrete federation API, as upstream: public routes must be
		// added on it, not on a client of it.
		FederationAPI: fsAPI,
		RoomserverAPI: rsAPI,
		UserAPI:       userAPI,
	}
}

// registerMLSRoutes registers the routes of our components (MLS delivery
// service, key server, client and federation API extensions) on routers.
// It runs before Monolith.AddAllPublicRoutes so that a route registered here
// shadows Dendrite's route for the same path.
func registerMLSRoutes(s *shared, monolith *setup.Monolith, routers httputil.Routers) {
	registerKeyServer(s, monolith, routers)
	registerDeliveryService(s, monolith, routers)
	registerMembership(s, monolith, routers)
}

func setupLogging(cfg *config.Dendrite) {
	internal.SetupStdLogging()
	internal.SetupHookLogging(cfg.Logging)
	internal.SetupPprof()
	basepkg.PlatformSanityChecks()
	logrus.Infof("Dendrite version %s (MSC4244)", internal.VersionString())
	if !cfg.ClientAPI.RegistrationDisabled && cfg.ClientAPI.OpenRegistrationWithoutVerificationEnabled {
		logrus.Warn("Open registration is enabled")
	}
}

func setupTracing(cfg *config.Dendrite) interface{ Close() error } {
	closer, err := cfg.SetupTracing()
	if err != nil {
		logrus.WithError(err).Panic("failed to start opentracing")
	}
	return closer
}

func setupSentry(cfg *config.Dendrite, processCtx *process.ProcessContext) {
	if !cfg.Global.Sentry.Enabled {
		return
	}
	logrus.Info("Setting up Sentry for debugging...")
	err := sentry.Init(sentry.ClientOptions{
		Dsn:              cfg.Global.Sentry.DSN,
		Environment:      cfg.Global.Sentry.Environment,
		Debug:            true,
		ServerName:       string(cfg.Global.ServerName),
		Release:          "dendrite@" + internal.VersionString(),
		AttachStacktrace: true,
	})
	if err != nil {
		logrus.WithError(err).Panic("failed to start Sentry")
	}
	go func() {
		processCtx.ComponentStarted()
		<-processCtx.WaitForShutdown()
		if !sentry.Flush(5 * time.Second) {
			logrus.Warn("failed to flush all Sentry events!")
		}
		processCtx.ComponentFinished()
	}()
}

func newDNSCache(cfg *config.Dendrite) *fclient.DNSCache {
	if !cfg.Global.DNSCache.Enabled {
		return nil
	}
	logrus.Infof("DNS cache enabled (size %d, lifetime %s)", cfg.Global.DNSCache.CacheSize, cfg.Global.DNSCache.CacheLifetime)
	return fclient.NewDNSCache(cfg.Global.DNSCache.CacheSize, cfg.Global.DNSCache.CacheLifetime)
}

func registerUpMetric() {
	up := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace:   "dendrite",
		Name:        "up",
		ConstLabels: map[string]string{"version": internal.VersionString()},
	})
	up.Add(1)
	prometheus.MustRegister(up)
}
