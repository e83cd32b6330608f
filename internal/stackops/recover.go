package stackops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
)

// recoverTimeout bounds the clean-up after a failed operation: a cancel and
// a refresh, which reads every resource from the cloud.
const recoverTimeout = 15 * time.Minute

// failed explains a failed operation and, when it may have changed the
// state, leaves the stack usable: unlocked, and without pending operations.
func (s *Stack) failed(ctx context.Context, op string, err error, mutates bool) error {
	interrupted := ctx.Err() != nil || closed(s.opts.Abort)
	reported := explain(op, s.Name(), err)
	if interrupted {
		reported = fmt.Errorf("%s %s: %w", op, s.Name(), ErrInterrupted)
	}
	// Someone else's lock is theirs to release.
	if !mutates || errors.Is(reported, ErrLocked) {
		return reported
	}
	// The caller's context may be what ended the operation.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	if rerr := s.recover(rctx, interrupted); rerr != nil {
		return errors.Join(reported, fmt.Errorf("then clean up stack %s: %w; run `pulumi cancel --stack %s` and `pulumi refresh --clear-pending-creates --stack %s`",
			s.Name(), rerr, s.Name(), s.Name()))
	}
	return reported
}

// recover unlocks the stack after an interrupt (an interrupted or killed CLI
// may not release its lock; our own CLI has exited, so the lock is ours),
// then refreshes when the state records operations that never finished.
func (s *Stack) recover(ctx context.Context, interrupted bool) error {
	if interrupted {
		fmt.Fprintf(s.opts.Progress, "\nstayup: releasing the lock of stack %s\n", s.Name())
		// On Pulumi Cloud this fails when no update is running any more;
		// the refresh below tells whether the stack is usable.
		_ = s.stack.Cancel(ctx)
	}
	pending, err := s.pendingOperations(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 && !interrupted {
		return nil
	}
	if len(pending) > 0 {
		fmt.Fprintf(s.opts.Progress, "stayup: %d operations never finished; refreshing to clear them:\n", len(pending))
		for _, p := range pending {
			fmt.Fprintf(s.opts.Progress, "  %s %s\n", p.Type, p.URN)
		}
		fmt.Fprintf(s.opts.Progress, "  (a pending create may exist in the cloud without being in the state: check, and import it if so)\n")
	}
	_, err = s.stack.Refresh(ctx, optrefresh.ClearPendingCreates(), optrefresh.ProgressStreams(s.opts.Progress))
	if err != nil {
		return fmt.Errorf("refresh: %w", cliError{err})
	}
	return nil
}

// PendingOperation is an operation the state says started and never ended.
type PendingOperation struct {
	Type string // creating, updating, deleting, reading
	URN  string
}

// PendingOperations lists the stack's unfinished operations.
func (s *Stack) PendingOperations(ctx context.Context) ([]PendingOperation, error) {
	return s.pendingOperations(ctx)
}

func (s *Stack) pendingOperations(ctx context.Context) ([]PendingOperation, error) {
	export, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	return pendingIn(export)
}

// pendingIn reads the pending operations of a stack export.
func pendingIn(export json.RawMessage) ([]PendingOperation, error) {
	var e struct {
		Deployment struct {
			Pending []struct {
				Type     string `json:"type"`
				Resource struct {
					URN string `json:"urn"`
				} `json:"resource"`
			} `json:"pending_operations"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(export, &e); err != nil {
		return nil, fmt.Errorf("read the stack export: %w", err)
	}
	var out []PendingOperation
	for _, p := range e.Deployment.Pending {
		out = append(out, PendingOperation{Type: strings.ToLower(p.Type), URN: p.Resource.URN})
	}
	return out, nil
}

func closed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
