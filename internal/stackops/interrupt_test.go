package stackops

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// blockingProgram registers one component, then blocks for block before
// registering a second, like a program waiting on a slow cloud call.
func blockingProgram(block time.Duration) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		first := &component{}
		if err := ctx.RegisterComponentResource("stayup:test:Service", "first", first); err != nil {
			return err
		}
		time.Sleep(block)
		second := &component{}
		return ctx.RegisterComponentResource("stayup:test:Service", "second", second)
	}
}

// An interrupt during an update whose program blocks longer than the SDK's
// 10 s kill delay: the CLI is not killed, the update ends as interrupted,
// and the stack is left unlocked, without pending operations, ready for
// the next up.
func TestInterruptedUpLeavesStackUsable(t *testing.T) {
	t.Parallel()
	const block = 15 * time.Second
	root := testProject(t, "dev", "config: {}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	upCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	var interruptedAt time.Time
	o := testOptions(t, root, "dev", blockingProgram(block))
	o.OnEvent = func(e Event) {
		// Interrupt once the first component is registered, while the
		// program blocks.
		if e.ResourcePreEvent != nil && strings.HasSuffix(e.ResourcePreEvent.Metadata.URN, "::first") && interruptedAt.IsZero() {
			interruptedAt = time.Now()
			interrupt()
		}
	}
	st, err := Upsert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Up(upCtx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("up: %v, want ErrInterrupted", err)
	}
	if interruptedAt.IsZero() {
		t.Fatal("the interrupt was never sent")
	}
	t.Logf("up ended %v after the interrupt", time.Since(interruptedAt).Round(100*time.Millisecond))

	pending, err := st.PendingOperations(ctx)
	if err != nil || len(pending) != 0 {
		t.Errorf("pending operations after the interrupt: %v, %v", pending, err)
	}
	// Unlocked: the next up runs, and completes the stack.
	o.Program = blockingProgram(0)
	o.OnEvent = nil
	st, err = Upsert(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Up(ctx); err != nil {
		t.Fatalf("up after the interrupt: %v", err)
	}
}
