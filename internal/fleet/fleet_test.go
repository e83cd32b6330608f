package fleet

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errSlow = errors.New("slow down")

func TestBackoffRetriesOnlyThrottling(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 3}
	isSlow := func(err error) bool { return errors.Is(err, errSlow) }

	calls := 0
	err := b.Do(context.Background(), "op", isSlow, func() error {
		calls++
		if calls < 3 {
			return errSlow
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("throttled twice then ok: err %v after %d calls", err, calls)
	}

	calls = 0
	err = b.Do(context.Background(), "op", isSlow, func() error { calls++; return errSlow })
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, errSlow) || calls != 3 {
		t.Errorf("always throttled: err %v after %d calls, want ErrThrottled after 3", err, calls)
	}

	calls = 0
	other := errors.New("boom")
	if err := b.Do(context.Background(), "op", isSlow, func() error { calls++; return other }); err != other || calls != 1 {
		t.Errorf("other error: %v after %d calls, want it at once", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := Backoff{Base: time.Hour, Max: time.Hour, Attempts: 5}
	if err := long.Do(ctx, "op", isSlow, func() error { return errSlow }); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled while waiting: %v", err)
	}
}

func TestParseKillMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]KillMode{"abrupt": Abrupt, "graceful": Graceful} {
		if got, err := ParseKillMode(in); got != want || err != nil {
			t.Errorf("ParseKillMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKillMode("gentle"); err == nil {
		t.Error("ParseKillMode(gentle) did not fail")
	}
}

func TestPermissionErrorIs(t *testing.T) {
	t.Parallel()
	err := error(&PermissionError{Action: "ec2:TerminateInstances", Err: errors.New("UnauthorizedOperation")})
	if !errors.Is(err, ErrPermission) || err.Error() != "missing permission ec2:TerminateInstances: UnauthorizedOperation" {
		t.Errorf("%v", err)
	}
}

func TestInService(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    State
		h    Health
		want bool
	}{{Running, Healthy, true}, {Running, Draining, false}, {Pending, Healthy, false}, {Stopping, Healthy, false}} {
		if got := (Instance{State: tc.s, Health: tc.h}).InService(); got != tc.want {
			t.Errorf("%s/%s in service = %v", tc.s, tc.h, got)
		}
	}
}

// A read counts instances in service per zone and every listed instance
// per revision; a failed read keeps only its error.
func TestNewRead(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	list := []Instance{
		{ID: "a", Zone: "z1", State: Running, Health: Healthy, Revision: "r1"},
		{ID: "b", Zone: "z2", State: Running, Health: Healthy, Revision: "r2"},
		{ID: "c", Zone: "z2", State: Pending, Health: Initial, Revision: "r2"},
	}
	r := NewRead(now, Capacity{Desired: 3}, list, nil)
	if r.Desired != 3 || r.Listed != 3 || r.Total() != 2 || r.InService["z2"] != 1 || r.Revisions["r2"] != 2 || r.InServiceRevisions["r2"] != 1 {
		t.Errorf("read %+v", r)
	}
	bad := NewRead(now, Capacity{}, nil, errors.New("throttled"))
	if bad.Error != "throttled" || bad.Total() != 0 || bad.InService == nil {
		t.Errorf("failed read %+v", bad)
	}
}
