package mesh

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestGroup: a part that fails stops the others and Wait says which and
// why; a group whose context ends stops with no error.
func TestGroup(t *testing.T) {
	g, ctx := NewGroup(context.Background(), slog.New(slog.DiscardHandler))
	stopped := make(chan struct{})
	g.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil })
	g.Go("breaker", func(context.Context) error { return errors.New("disk on fire") })
	<-stopped
	if ctx.Err() == nil {
		t.Error("the group's context is still live")
	}
	if err := g.Wait(); err == nil || !strings.Contains(err.Error(), "breaker: disk on fire") {
		t.Errorf("Wait = %v", err)
	}

	parent, cancel := context.WithCancel(context.Background())
	g2, _ := NewGroup(parent, slog.New(slog.DiscardHandler))
	g2.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	cancel()
	if err := g2.Wait(); err != nil {
		t.Errorf("Wait after the parent ended = %v, want nil", err)
	}
}
