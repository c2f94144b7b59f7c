package gossip

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/netsim"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/trust"
)

// TestUplinkRecordsGoUpstream: a pole's ack on the mesh goes to the
// member that is a gateway, by stream, and to no other pole; the gateway
// (Carry: DownOnly) does not spread it; an alert still reaches everyone.
func TestUplinkRecordsGoUpstream(t *testing.T) {
	c := newCluster(t, netsim.Link{}, func(cfg *Config) {
		id, err := trust.IdentityOf(cfg.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if id.Role == trust.RoleGateway {
			cfg.Carry = DownOnly
			return
		}
		self := id.ID
		cfg.Carry = func(f mesh.Forward) bool { return !f.Record.Kind.Uplink() || f.Record.Origin == self }
	})
	poles := c.startMany(4)
	gcert, gkey, err := c.city.issue(trust.Identity{Role: trust.RoleGateway, ID: "gw-1", Zone: "z1"})
	if err != nil {
		t.Fatal(err)
	}
	gw := c.startWith("gw-1", gcert, gkey, c.city.verifier(t))
	seed, _ := c.net.Addr(poles[0].name)
	if _, err := gw.link.Join([]string{seed}); err != nil {
		t.Fatal(err)
	}
	all := append(poles, gw)
	waitFor(t, 20*time.Second, "everyone sees five members", func() bool { return allSee(all, 5) })

	p := poles[1]
	signer, err := record.NewSigner(p.key, p.cert.Raw, true, c.city.ca.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ack, err := record.Sign(&record.Record{Kind: record.KindAck, Tier: record.TierInformational, Scope: record.DeviceScope(p.name),
		Issued: now, Expires: now.Add(time.Hour), Origin: p.name, Seq: 1,
		Body: &record.Ack{Record: record.IDOf([]byte("an alert")), Device: p.name, State: record.AckDisplayed, At: record.MillisOf(now)}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	before := p.link.Stats()
	publish(t, p, ack)
	waitFor(t, 10*time.Second, "the ack at the gateway", func() bool { return gw.has(ack.ID()) })
	after := p.link.Stats()
	if sent := after.PushSent - before.PushSent; sent != 1 || after.IHaveSent != before.IHaveSent {
		t.Errorf("the ack was pushed to %d members and announced to %d; want the gateway only", sent, after.IHaveSent-before.IHaveSent)
	}
	alert := c.city.alert(t, 7)
	publish(t, poles[0], alert)
	waitFor(t, 10*time.Second, "the alert everywhere", func() bool {
		for _, nd := range all {
			if !nd.has(alert.ID()) {
				return false
			}
		}
		return true
	})
	for _, nd := range poles {
		if nd != p && nd.has(ack.ID()) {
			t.Errorf("%s has %s's ack", nd.name, p.name)
		}
	}
}
