// Command app is stayup's demo container: an HTTP server that says which
// version, host and zone answered, and that drains on SIGTERM so a rollout
// or a scale-in drops no request.
//
// Endpoints:
//
//	GET /         the version, hostname, zone and instance, as text
//	GET /healthz  liveness: 200 while the process runs (autohealing's check)
//	GET /readyz   readiness: 200, then 503 from SIGTERM on (the load balancer's check)
//
// Every response carries X-Stayup-Version, X-Stayup-Hostname and
// X-Stayup-Zone, so `stayup probe --header X-Stayup-Version` shows which
// version served each request during a rollout.
//
// Environment:
//
//	PORT              port to listen on (default 8080)
//	VERSION           overrides the version built in with -ldflags "-X main.version=..."
//	ZONE              the instance's zone; the stacks' boot scripts set it
//	INSTANCE_ID       the instance's id; the stacks' boot scripts set it
//	DRAIN             how long to keep serving after SIGTERM (default spec.AppDrain, 15s)
//	SHUTDOWN_TIMEOUT  then, how long requests in flight may take (default 20s)
//
// On SIGTERM (or SIGINT) the app fails readiness at once, keeps serving for
// DRAIN (longer than the load balancers take to notice: 2 checks 5 s apart),
// then shuts down gracefully: it stops accepting, lets requests in flight
// finish within SHUTDOWN_TIMEOUT, and exits 0; 1 if some were still running
// at the deadline. DRAIN + SHUTDOWN_TIMEOUT (35 s) is under the container's
// stop timeout (docker --stop-timeout 40), so docker never kills it
// mid-request. A second signal ends the drain early.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"stayup/infra/spec"
)

// version is set at build time: go build -ldflags "-X main.version=1.0.0".
var version = "dev"

// Defaults for the drain: the numbers of spec's drain chain.
const (
	defaultPort = 8080
	// defaultShutdownTimeout leaves 5 s of the container's stop timeout
	// for the process to exit and the runtime to see it: 40 - 15 - 5 = 20 s.
	defaultShutdownTimeout = spec.ContainerStopTimeout - spec.AppDrain - 5*time.Second
)

// Server timeouts.
const (
	// idleTimeout keeps an idle keep-alive connection open longer than any
	// load balancer in front keeps it: the ALB 60 s (its idle timeout),
	// Google's front ends 600 s. The balancer then always closes first and
	// never sends a request on a connection the app is closing.
	idleTimeout = 620 * time.Second
	// readHeaderTimeout bounds a client that opens a connection and sends
	// its headers slowly (slowloris); the load balancers send them at once.
	readHeaderTimeout = 10 * time.Second
	// readTimeout and writeTimeout bound one request: the load balancers
	// give up on the app after 30 s (GCP's and Azure's backend timeouts).
	readTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
)

// config is what the environment says.
type config struct {
	port            int
	version         string
	zone            string
	instanceID      string
	hostname        string
	drain           time.Duration
	shutdownTimeout time.Duration
}

// loadConfig reads the environment through getenv and reports every bad
// value at once.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		port:            defaultPort,
		version:         version,
		zone:            getenv("ZONE"),
		instanceID:      getenv("INSTANCE_ID"),
		drain:           spec.AppDrain,
		shutdownTimeout: defaultShutdownTimeout,
	}
	var errs []error
	if v := getenv("VERSION"); v != "" {
		c.version = v
	}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("PORT=%q: want a port number, 1 to 65535", v))
		}
		c.port = p
	}
	duration := func(name string, into *time.Duration, least time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < least {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration of at least %v, like 15s", name, v, least))
			return
		}
		*into = d
	}
	duration("DRAIN", &c.drain, 0)
	duration("SHUTDOWN_TIMEOUT", &c.shutdownTimeout, time.Millisecond)
	return c, errors.Join(errs...)
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		log.Error("bad environment", "err", err)
		os.Exit(2)
	}
	cfg.hostname, _ = os.Hostname()

	// Signals are caught before the port opens: a SIGTERM that arrives
	// while starting up still drains instead of killing the process.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.port))
	if err != nil {
		log.Error("listen", "port", cfg.port, "err", err)
		os.Exit(1)
	}
	a := newApp(cfg)
	os.Exit(serve(ln, a, a.routes(), signals, log))
}

// serve serves h on ln until a signal, then drains and shuts down. It
// returns the process exit code.
func serve(ln net.Listener, a *app, h http.Handler, signals <-chan os.Signal, log *slog.Logger) int {
	cfg := a.cfg
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if limit := cfg.drain + cfg.shutdownTimeout; limit >= spec.ContainerStopTimeout {
		log.Warn("drain and shutdown exceed the stop timeout stayup's stacks give the container: it may be killed mid-request",
			"drain", cfg.drain.String(), "shutdown_timeout", cfg.shutdownTimeout.String(), "stop_timeout", spec.ContainerStopTimeout.String())
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", cfg.version, "hostname", cfg.hostname,
		"zone", cfg.zone, "instance_id", cfg.instanceID,
		"drain", cfg.drain.String(), "shutdown_timeout", cfg.shutdownTimeout.String(), "idle_timeout", idleTimeout.String())

	select {
	case err := <-served:
		log.Error("serve", "err", err)
		return 1
	case sig := <-signals:
		// From here /readyz fails: the load balancer takes the instance
		// out of rotation within its checks (10 s) while / keeps serving.
		a.startDrain()
		log.Info("draining: readiness fails, still serving", "signal", sig.String(), "drain", cfg.drain.String())
	}

	drain := time.NewTimer(cfg.drain)
	defer drain.Stop()
	select {
	case <-drain.C:
	case sig := <-signals:
		log.Warn("second signal: ending the drain early", "signal", sig.String())
	case err := <-served:
		log.Error("serve", "err", err)
		return 1
	}

	// Shutdown closes the listener and idle connections (the balancer
	// stopped sending some seconds ago) and waits for requests in flight.
	log.Info("shutting down", "deadline", cfg.shutdownTimeout.String())
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("requests still in flight at the shutdown deadline: closing their connections", "err", err)
		srv.Close()
		return 1
	}
	log.Info("shut down", "took", time.Since(start).String())
	return 0
}
