package fleet

import (
	"context"
	"fmt"
	"time"
)

// Backoff retries calls the cloud refused for its rate limits: exponential
// from Base up to Max, Attempts tries in all. The SDKs' own retries cover
// transient network errors; a chaos run polls the same APIs every few
// seconds for minutes, so a sustained throttle is waited out here instead of
// failing the experiment.
type Backoff struct {
	Base, Max time.Duration
	Attempts  int
}

// DefaultBackoff waits 0.5, 1, 2, 4, 8, 8 s: about 24 s in all, under
// the minute a cloud's rate limit windows usually last.
var DefaultBackoff = Backoff{Base: 500 * time.Millisecond, Max: 8 * time.Second, Attempts: 7}

// Do calls f until it succeeds, fails for another reason than throttling
// (as throttled says), or the attempts or ctx run out. what names the call.
func (b Backoff) Do(ctx context.Context, what string, throttled func(error) bool, f func() error) error {
	if b.Attempts < 1 {
		b.Attempts = 1
	}
	wait := b.Base
	var err error
	for attempt := 1; ; attempt++ {
		err = f()
		if err == nil || !throttled(err) {
			return err
		}
		if attempt >= b.Attempts {
			return fmt.Errorf("%s: %w after %d attempts: %w", what, ErrThrottled, attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, b.Max)
	}
}
