package gossip

import (
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/netsim"
)

// TestKeyRotation rotates the gossip key the way the keyring allows: every
// member holds both keys and some already encrypt with the new one. They
// still form one cluster and deliver alerts. A member with neither key,
// or with another city's label, stays outside.
func TestKeyRotation(t *testing.T) {
	oldKey := []byte("testville gossip key 32 bytes!!!")
	newKey := []byte("testville gossip key, 2027 (32B)")
	wrong := []byte("some other city's key, 32 bytes!")
	keys := map[string][][]byte{
		"p01": {oldKey, newKey}, // still encrypting with the old key
		"p02": {newKey, oldKey}, // already on the new one
		"p03": {newKey, oldKey},
		"p04": {wrong},
	}
	labels := map[string]string{"p05": "gotham"}
	c := newCluster(t, netsim.Link{Latency: time.Millisecond}, func(cfg *Config) {
		if k, ok := keys[cfg.Node.ID()]; ok {
			cfg.Keys = k
		}
		if l, ok := labels[cfg.Node.ID()]; ok {
			cfg.Label = l
		}
	})
	nodes := c.startMany(3)
	seed, _ := c.net.Addr(nodes[0].name)
	for _, name := range []string{"p04", "p05"} {
		outsider := c.start(name)
		if _, err := outsider.link.Join([]string{seed}); err == nil {
			t.Errorf("%s joined a cluster whose key or label it does not have", name)
		}
	}
	r := c.city.alert(t, 1)
	publish(t, nodes[1], r)
	waitFor(t, 10*time.Second, "the alert to reach every member holding a key", func() bool {
		return nodes[0].has(r.ID()) && nodes[2].has(r.ID())
	})
	for _, name := range []string{"p04", "p05"} {
		if c.nodes[name].has(r.ID()) {
			t.Errorf("%s, outside the cluster, got the alert", name)
		}
		for _, nd := range nodes {
			if nd.members()[name] {
				t.Errorf("%s lists %s as a member", nd.name, name)
			}
		}
	}
}
