package netsim_test

import (
	"fmt"
	"io"
	"log"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/cityarray/cityarray/mesh/netsim"
)

// Datagrams between two nodes, then a partition.
func Example() {
	n := netsim.New(netsim.Config{Seed: 1, Default: netsim.Link{Latency: 5 * time.Millisecond}})
	defer n.Close()

	pole, err := n.Endpoint("pole-1")
	if err != nil {
		log.Fatal(err)
	}
	gw, err := n.Endpoint("gateway-a")
	if err != nil {
		log.Fatal(err)
	}

	start := time.Now()
	pole.Send("gateway-a", []byte("ack 42"))
	d := <-gw.Recv()
	fmt.Printf("%s from %s, latency respected: %v\n", d.Data, d.From, time.Since(start) >= 5*time.Millisecond)

	n.Partition([]string{"pole-1"}) // isolate the pole
	pole.Send("gateway-a", []byte("lost"))
	fmt.Println("dropped by the partition:", n.Stats("pole-1").Dropped.Partition)

	// Output:
	// ack 42 from pole-1, latency respected: true
	// dropped by the partition: 1
}

// Three memberlist nodes on netsim transports.
func Example_memberlist() {
	n := netsim.New(netsim.Config{Seed: 1, Default: netsim.Link{Latency: time.Millisecond, Jitter: 200 * time.Microsecond}})
	defer n.Close()

	events := make(chan memberlist.NodeEvent, 16)
	var nodes []*memberlist.Memberlist
	for _, name := range []string{"gateway-a", "pole-1", "pole-2"} {
		t, err := n.Transport(name)
		if err != nil {
			log.Fatal(err)
		}
		cfg := memberlist.DefaultLANConfig()
		cfg.Name = name
		cfg.Transport = t
		cfg.LogOutput = io.Discard
		if name == "gateway-a" {
			cfg.Events = &memberlist.ChannelEventDelegate{Ch: events}
		}
		ml, err := memberlist.Create(cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer ml.Shutdown()
		go func() { // a crashed node's memberlist must be stopped by its owner
			select {
			case <-t.Crashed():
				ml.Shutdown()
			case <-t.Done():
			}
		}()
		nodes = append(nodes, ml)
	}

	seed, _ := n.Addr("gateway-a")
	for _, ml := range nodes[1:] {
		if _, err := ml.Join([]string{seed}); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 { // the gateway itself, then each pole
		<-events
	}
	var names []string
	for _, m := range nodes[0].Members() {
		names = append(names, fmt.Sprintf("%s@%s", m.Name, m.Address()))
	}
	slices.Sort(names)
	fmt.Println(names)

	// Output:
	// [gateway-a@10.0.0.1:7946 pole-1@10.0.0.2:7946 pole-2@10.0.0.3:7946]
}
