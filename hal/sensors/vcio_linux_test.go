package sensors

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVCIOWithoutFirmware drives the mailbox code as far as a machine
// without Pi firmware allows: a missing device, a file that is not a
// device, and a character device (/dev/null) that refuses the ioctl.
func TestVCIOWithoutFirmware(t *testing.T) {
	ctx := context.Background()
	if _, err := (VCIO{Path: filepath.Join(t.TempDir(), "vcio")}).Throttled(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing device: %v, want fs.ErrNotExist", err)
	}
	plain := filepath.Join(t.TempDir(), "vcio")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (VCIO{Path: plain}).Throttled(ctx); err == nil || !strings.Contains(err.Error(), "not a character device") {
		t.Errorf("plain file: %v, want 'not a character device'", err)
	}
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null character device here, so the ioctl path (the hardware side) cannot be driven")
	}
	if _, err := (VCIO{Path: "/dev/null"}).Throttled(ctx); err == nil || !strings.Contains(err.Error(), "mailbox ioctl") {
		t.Errorf("/dev/null: %v, want the ioctl refused", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (VCIO{}).Throttled(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
