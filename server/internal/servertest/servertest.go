// Package servertest builds what the tests of the server's packages
// (server/desk, server/fleet, …) share: the test city's PKI, a real auth
// service with people who log in with a password and TOTP, a real audit
// log that remembers what it was given, and a running mesh node to
// publish to. Time is a clocktest.Clock that the test moves. It is for
// tests only.
//
// server/auth and server/audit test themselves in-package and so cannot
// import this package, which imports them; they share only the clock.
package servertest

import (
	"net/netip"
	"time"
)

// T0 is when the tests' clocks start.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// IP is the address every test person connects from.
var IP = netip.MustParseAddr("192.0.2.10")

// Password is every test person's password.
const Password = "correct horse battery staple 4711!"

// ServerID is the id of the test city's server.
const ServerID = "server-1"
