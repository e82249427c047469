// Command dendrite is the MSC4244 homeserver: Dendrite's monolith with our
// components wired in. Flags and configuration keep Dendrite's meaning.
//
// Startup problems (bad flags or configuration, unreachable databases,
// unwritable folders, busy ports) end the process with one line on stderr
// and exit status 1, before any component is built.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/matrix-org/dendrite/internal"
	"github.com/matrix-org/dendrite/setup/config"
	"github.com/sirupsen/logrus"

	mlsroomserver "github.com/matrix-org/dendrite/msc4244/roomserver"
)

// Flags of upstream's cmd/dendrite. The setup package registers --config,
// --version and --really-enable-open-registration itself; see dendriteFlag.
var (
	unixSocket = flag.String("unix-socket", "",
		"EXPERIMENTAL(unstable): The HTTP listening unix socket for the server (disables http[s]-bind-address feature)")
	unixSocketPermission = flag.String("unix-socket-permission", "755",
		"EXPERIMENTAL(unstable): The HTTP listening unix socket permission for the server (in chmod format like 755)")
	httpBindAddr  = flag.String("http-bind-address", ":8008", "The HTTP listening port for the server")
	httpsBindAddr = flag.String("https-bind-address", ":8448", "The HTTPS listening port for the server")
	certFile      = flag.String("tls-cert", "", "The PEM formatted X509 certificate to use for TLS")
	keyFile       = flag.String("tls-key", "", "The PEM private key to use for TLS")
)

// listeners are the addresses the server serves on.
type listeners struct {
	http  config.ServerAddress
	https config.ServerAddress // not enabled without a certificate and key
}

func main() {
	defer exitOnPanic()
	if err := run(); err != nil {
		exitWithError(err)
	}
}

func run() error {
	// The room version must exist before the configuration is verified and
	// before any component looks room versions up.
	mlsroomserver.RegisterRoomVersion()

	flag.Parse()
	showVersion, err := dendriteFlag("version")
	if err != nil {
		return err
	}
	if showVersion == "true" {
		fmt.Println(internal.VersionString())
		return nil
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	addrs, err := listenAddresses()
	if err != nil {
		return err
	}
	if err = preflight(cfg, addrs); err != nil {
		return err
	}
	if err = useSQLiteWAL(cfg); err != nil {
		return err
	}
	serve(cfg, addrs)
	return nil
}

// loadConfig reads the configuration named by --config, applies
// --really-enable-open-registration and verifies the result.
func loadConfig() (*config.Dendrite, error) {
	path, err := dendriteFlag("config")
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("--config must be supplied")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("invalid config file %s: %w", path, err)
	}
	openRegistration, err := dendriteFlag("really-enable-open-registration")
	if err != nil {
		return nil, err
	}
	if openRegistration == "true" {
		cfg.ClientAPI.OpenRegistrationWithoutVerificationEnabled = true
	}
	var configErrors config.ConfigErrors
	cfg.Verify(&configErrors)
	if len(configErrors) > 0 {
		return nil, fmt.Errorf("invalid config file %s: %s", path, strings.Join(configErrors, "; "))
	}
	return cfg, nil
}

// dendriteFlag returns the value of a flag registered by a Dendrite package.
func dendriteFlag(name string) (string, error) {
	f := flag.Lookup(name)
	if f == nil {
		return "", fmt.Errorf("flag --%s is not registered by this Dendrite version", name)
	}
	return f.Value.String(), nil
}

func listenAddresses() (listeners, error) {
	var l listeners
	var err error
	if *unixSocket != "" {
		l.http, err = config.UnixSocketAddress(*unixSocket, *unixSocketPermission)
		if err != nil {
			return l, fmt.Errorf("invalid --unix-socket: %w", err)
		}
		return l, nil
	}
	if l.http, err = config.HTTPAddress("http://" + *httpBindAddr); err != nil {
		return l, fmt.Errorf("invalid --http-bind-address: %w", err)
	}
	if *certFile == "" && *keyFile == "" {
		return l, nil
	}
	if *certFile == "" || *keyFile == "" {
		return l, errors.New("--tls-cert and --tls-key must be given together")
	}
	if l.https, err = config.HTTPAddress("https://" + *httpsBindAddr); err != nil {
		return l, fmt.Errorf("invalid --https-bind-address: %w", err)
	}
	return l, nil
}

func exitWithError(err error) {
	fmt.Fprintf(os.Stderr, "dendrite: %v\n", err)
	os.Exit(1)
}

// exitOnPanic turns a panic during startup into one line. Dendrite's
// constructors panic through logrus on failures the preflight did not foresee.
func exitOnPanic() {
	r := recover()
	if r == nil {
		return
	}
	if entry, ok := r.(*logrus.Entry); ok {
		msg := entry.Message
		if cause, ok := entry.Data[logrus.ErrorKey]; ok {
			msg = fmt.Sprintf("%s: %v", msg, cause)
		}
		r = msg
	}
	exitWithError(fmt.Errorf("fatal: %v", r))
}
