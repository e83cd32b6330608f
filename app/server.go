package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// The response headers that say who answered.
const (
	headerVersion  = "X-Stayup-Version"
	headerHostname = "X-Stayup-Hostname"
	headerZone     = "X-Stayup-Zone"
)

// app is the demo service: what it reports, and whether it is draining.
type app struct {
	cfg      config
	draining atomic.Bool
}

func newApp(cfg config) *app { return &app{cfg: cfg} }

// startDrain makes readiness fail from now on.
func (a *app) startDrain() { a.draining.Store(true) }

// routes is every endpoint; GET patterns answer HEAD too, and other
// methods get 405 from the mux.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /readyz", a.readyz)
	return a.common(mux)
}

// common sets the headers every response carries, the 404s and 405s too.
func (a *app) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set(headerVersion, a.cfg.version)
		h.Set(headerHostname, a.cfg.hostname)
		h.Set(headerZone, a.cfg.zone)
		// Each response says which instance answered: never cache it.
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if a.draining.Load() {
			// The connection closes after this response, and the client
			// knows it: the load balancer's next request opens a new one
			// (to an instance still in rotation, once it has noticed),
			// instead of racing the app closing idle connections at the
			// end of the drain.
			h.Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// page says who answered.
func (a *app) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("stayup demo app\n")
	fmt.Fprintf(&b, "version:  %s\n", a.cfg.version)
	fmt.Fprintf(&b, "hostname: %s\n", a.cfg.hostname)
	fmt.Fprintf(&b, "zone:     %s\n", orUnknown(a.cfg.zone))
	fmt.Fprintf(&b, "instance: %s\n", orUnknown(a.cfg.instanceID))
	if a.draining.Load() {
		b.WriteString("state:    draining (still serving; readiness fails)\n")
	} else {
		b.WriteString("state:    serving\n")
	}
	_, _ = w.Write([]byte(b.String()))
}

// healthz is liveness: the process is up and serving HTTP. It stays 200
// while draining, so autohealing never replaces an instance for draining.
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is readiness: 503 from the drain's start, so the load balancer
// stops sending new requests here while requests in flight finish.
func (a *app) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}
