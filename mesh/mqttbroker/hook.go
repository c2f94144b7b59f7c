package mqttbroker

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cityarray/cityarray/mesh/mqttlink"
	"github.com/cityarray/cityarray/mesh/trust"
)

// hook is the broker's mochi hook: authentication from the client
// certificate, the ACL of mqttlink.Allowed, and the hand-over of published
// records to the link.
type hook struct {
	mqtt.HookBase
	b *Broker

	mu  sync.RWMutex
	ids map[string]trust.Identity // by client id: the certificate's identity
}

// ID names the hook in mochi's logs.
func (h *hook) ID() string { return "cityarray" }

// Provides lists the hook's methods.
func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnPublish, mqtt.OnClientExpired:
		return true
	}
	return false
}

// identify returns the identity of a connecting client: that of the
// certificate it presented, which the listener's TLS configuration has
// already checked against the city root (mqttlink.CheckPeer). The MQTT
// client id must be the certificate's id: identity never comes from a
// user name or password.
func identify(cl *mqtt.Client) (trust.Identity, error) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return trust.Identity{}, fmt.Errorf("connection is not TLS")
	}
	cs := tc.ConnectionState()
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return trust.Identity{}, fmt.Errorf("no client certificate")
	}
	id, err := trust.IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return trust.Identity{}, err
	}
	switch id.Role {
	case trust.RoleDevice, trust.RoleGateway, trust.RoleServer:
	default:
		return trust.Identity{}, fmt.Errorf("%s: a %s may not connect", id, id.Role)
	}
	if cl.ID != id.ID {
		return trust.Identity{}, fmt.Errorf("client id %q is not the certificate's id %q", cl.ID, id.ID)
	}
	if cl.ID == mqtt.InlineClientId || cl.ID == onBehalfID {
		return trust.Identity{}, fmt.Errorf("client id %q is reserved by the broker", cl.ID)
	}
	return id, nil
}

// OnConnectAuthenticate admits a client whose certificate names it.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	id, err := identify(cl)
	if err != nil {
		h.b.link.count(func(s *Stats) { s.AuthFailures++ })
		h.b.log.Warn("client refused", "client", cl.ID, "remote", cl.Net.Remote, "reason", err)
		return false
	}
	h.mu.Lock()
	h.ids[cl.ID] = id
	h.mu.Unlock()
	h.b.log.Debug("client connected", "client", id.String(), "remote", cl.Net.Remote, "clean", cl.Properties.Clean)
	return true
}

// identity returns the identity a client id authenticated as.
func (h *hook) identity(clientID string) (trust.Identity, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	id, ok := h.ids[clientID]
	return id, ok
}

// OnACLCheck applies mqttlink.Allowed: to publishes (write), to
// subscription filters and, as mochi delivers each message, to the topic
// (a client whose certificate was re-issued for another zone stops
// getting its old zone's alerts at once).
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	id, ok := h.identity(cl.ID)
	if ok && mqttlink.Allowed(id, topic, write) {
		return true
	}
	h.b.link.count(func(s *Stats) { s.Refused++ })
	what := "subscribe"
	if write {
		what = "publish"
	}
	h.b.log.Warn("refused", "client", id.String(), "client_id", cl.ID, "op", what, "topic", topic)
	return false
}

// OnSubscribe marks every subscription no-local, so that a record the link
// republishes on behalf of the client it came from (see Link) does not go
// back to that client. mochi honours no-local for MQTT 3.1.1 clients too.
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	for i := range pk.Filters {
		if !mqtt.IsSharedFilter(pk.Filters[i].Filter) {
			pk.Filters[i].NoLocal = true
		}
	}
	return pk
}

// OnSubscribed serves a device that subscribed to its own device topic the
// records Config.CatchUp gives for it.
func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if cl.Net.Inline || h.b.cfg.CatchUp == nil {
		return
	}
	id, ok := h.identity(cl.ID)
	if !ok || id.Role != trust.RoleDevice {
		return
	}
	own := mqttlink.DeviceAlertTopic(id.ID)
	for i, f := range pk.Filters {
		if f.Filter == own && (i >= len(codes) || codes[i] < 0x80) {
			h.b.link.startCatchUp(id, own)
			return
		}
	}
}

// OnPublish hands a client's record to the link and keeps mochi from
// passing the unverified copy on: subscribers get the record when the
// node has accepted it and the link republishes it. The client still
// gets its PUBACK. Receipts (which only a server may publish) pass
// through as they are.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	pk.FixedHeader.Retain = false
	if t, err := mqttlink.ParseTopic(pk.TopicName); err == nil && t.IsReceipts() {
		return pk, nil
	}
	h.b.link.received(cl.ID, bytes.Clone(pk.Payload))
	return pk, packets.CodeSuccessIgnore
}

// OnClientExpired forgets the identity of a client whose session expired.
func (h *hook) OnClientExpired(cl *mqtt.Client) {
	h.mu.Lock()
	delete(h.ids, cl.ID)
	h.mu.Unlock()
}
