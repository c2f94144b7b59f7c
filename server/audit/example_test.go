package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/cityarray/cityarray/server/audit"
)

// stepClock is a Clock that moves a second per reading.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func Example() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	seed := sha256.Sum256([]byte("example server key"))
	key := ed25519.NewKeyFromSeed(seed[:]) // the server's key, from its key file
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := audit.Open(dir, audit.Options{Key: key, KeyName: "cityarray-audit/server-1", Clock: clock})
	if err != nil {
		panic(err)
	}
	idx, err := l.Append(audit.Entry{
		Actor: "ada", Role: "officer", Action: "alert.approve", Target: "alert-17", Outcome: "ok",
		RemoteIP: netip.MustParseAddr("192.0.2.7"), Detail: map[string]string{"tier": "warning"},
	})
	if err != nil {
		panic(err)
	}
	_, err = l.Append(audit.Entry{Actor: "eve", Action: "login.fail", Outcome: "denied", Detail: map[string]string{"password": "hunter2"}})
	fmt.Println(err)

	// The server ticks Run every minute; here one tick, then stop.
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx, tick) }()
	tick <- clock.Now()
	cancel()
	<-done

	p, err := l.Prove(idx)
	if err != nil {
		panic(err)
	}
	vkey := l.VerifierKey() // also in DIR/verifier.key; give it to auditors
	l.Close()

	v, _ := audit.ParseVerifierKeys(vkey)
	fmt.Println("proof:", audit.CheckProof(p, v))
	r, err := audit.Verify(dir, v)
	fmt.Printf("verify: %v, %d entries, %d checkpoints\n", err, r.Entries, r.Checkpoints)
	// Output:
	// audit: append: audit: entry would store a secret (passwords, tokens, TOTP codes and key material never go in the audit log): detail key "password" names a secret; record an id or fingerprint instead
	// proof: <nil>
	// verify: <nil>, 1 entries, 1 checkpoints
}
