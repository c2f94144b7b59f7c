//go:build linux && cgo

package audio

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOtoOpen opens the oto player. On a machine without a sound card
// (CI) Open must fail with the ALSA error that oto/v2 reports only
// through Context.Err; with a card it must play a short silence.
func TestOtoOpen(t *testing.T) {
	p, err := Open(PlayerConfig{Kind: KindOto, Rate: 22050})
	if err != nil {
		if !strings.Contains(err.Error(), "ALSA") {
			t.Fatalf("Open(oto) = %v, want an ALSA error when there is no sound card", err)
		}
		return
	}
	defer p.Close()
	if err := p.Play(context.Background(), Silence(22050, 50*time.Millisecond)); err != nil {
		t.Errorf("Play on the sound card: %v", err)
	}
}
