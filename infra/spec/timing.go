package spec

import "time"

// The drain chain (zero downtime from the instance's side). Each step is
// longer than the one it waits on, so a request in flight is never cut:
//
//	LB notices readiness failing (HealthCheckInterval x UnhealthyThreshold = 10 s)
//	  < AppDrain (the app keeps serving while failing readiness: 15 s)
//	  < ContainerStopTimeout (drain + up to 20 s for in-flight requests: 40 s)
//	  < SystemdStopTimeout (systemd never kills the runtime mid-drain: 60 s)
const (
	// HealthCheckInterval is the load balancer's readiness check period:
	// the shortest ALB allows, so a failing instance leaves rotation fast.
	HealthCheckInterval = 5 * time.Second
	// HealthCheckTimeout is under the interval (ALB requires it) and long
	// enough for a busy instance to answer a trivial readiness request.
	HealthCheckTimeout = 3 * time.Second
	// HealthyThreshold and UnhealthyThreshold: two checks in a row, so one
	// lost packet does not flap an instance, and a dead one is out in 10 s.
	HealthyThreshold   = 2
	UnhealthyThreshold = 2

	// AppDrain is how long an app that drains keeps serving after SIGTERM
	// while failing readiness: longer than the LB takes to notice (10 s).
	AppDrain = 15 * time.Second
	// ContainerStopTimeout is the runtime's grace before SIGKILL.
	ContainerStopTimeout = 40 * time.Second
	// SystemdStopTimeout bounds the whole unit stop, above the runtime's.
	SystemdStopTimeout = 60 * time.Second

	// DeregistrationDelay is how long the LB lets in-flight requests to a
	// leaving instance finish: longer than any request the demo serves,
	// short enough that each rollout step is not slowed by minutes.
	DeregistrationDelay = 30 * time.Second

	// BootGrace is how long autohealing ignores a new instance: boot
	// (~30 s), installing the runtime (~40 s), pulling the image (~30 s)
	// and two healthy checks (10 s), with headroom for a slow pull.
	BootGrace = 180 * time.Second
	// Warmup is how long a new instance's metrics are left out of scaling
	// decisions after it turns healthy: boot-time CPU is not load.
	Warmup = 60 * time.Second
)
