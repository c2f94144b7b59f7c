package edge

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh"
	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
	"github.com/cityarray/cityarray/mesh/trust"
)

// crashEnv, when set, makes TestAckCrashChild the pole that TestAckCrash
// kills: it names the directory holding the PKI and the data.
const crashEnv = "CITYARRAY_EDGE_CRASH_DIR"

// ackedRecord is the record a crash child acks in round r, step i.
func ackedRecord(r, i int) record.ID { return record.IDOf(fmt.Appendf(nil, "alert %d/%d", r, i)) }

// TestAckCrash: pulling the power at any instant loses no ack. A child
// pole acks records in a loop, printing each only after Ack returned, and
// is SIGKILLed at a random point, over and over, on the same data. Each
// time the store must open, and every ack a child printed must be stored
// and waiting in the outbox for the uplink (no link runs here, so nothing
// leaves it).
func TestAckCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("testing.Short: TestAckCrash re-executes the test binary 25 times")
	}
	dir := t.TempDir()
	pki := fileCity(t)
	if err := os.Rename(pki, filepath.Join(dir, "pki")); err != nil {
		t.Fatal(err)
	}
	const rounds = 25
	rng := rand.New(rand.NewPCG(20301127, 6))
	printed := map[record.ID]bool{}
	for round := range rounds {
		killAfter := rng.IntN(30)
		cmd := exec.Command(os.Args[0], "-test.run=^TestAckCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("CITYARRAY_EDGE_CRASH_ROUND=%d", round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for n := 0; n < killAfter && sc.Scan(); {
			var r, i int
			if _, err := fmt.Sscanf(sc.Text(), "acked %d %d", &r, &i); err == nil {
				printed[ackedRecord(r, i)] = true
				n++
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_ = cmd.Wait()

		// The store opens, and every printed ack is in it and in the outbox.
		st, err := store.Open(filepath.Join(dir, RecordsFile), store.DefaultOptions())
		if err != nil {
			t.Fatalf("round %d: the store does not open after SIGKILL: %v\nchild stderr:\n%s", round, err, stderr.String())
		}
		a, err := NewAcker("pole-1", record.Signer{}, record.Signer{}, nil, st)
		if err != nil {
			t.Fatal(err)
		}
		queued := map[record.ID]bool{}
		items, err := st.Peek(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			r, err := record.Parse(it.Data)
			if err != nil {
				t.Fatalf("round %d: outbox entry %d does not parse: %v", round, it.Seq, err)
			}
			if b, ok := r.Body.(*record.Ack); ok {
				queued[b.Record] = true
			}
		}
		for id := range printed {
			if !a.Sent(id, record.AckReceived) {
				t.Errorf("round %d: the ack of %s was printed but is not stored", round, id.Short())
			}
			if !queued[id] {
				t.Errorf("round %d: the ack of %s was printed but is not in the outbox", round, id.Short())
			}
		}
		st.Close()
	}
	if len(printed) < rounds {
		t.Errorf("only %d acks printed over %d rounds: the children did not get going", len(printed), rounds)
	}
}

// TestAckCrashChild is the pole TestAckCrash kills: it acks records as
// fast as it can and prints each ack after Ack returned.
func TestAckCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return
	}
	var round int
	fmt.Sscan(os.Getenv("CITYARRAY_EDGE_CRASH_ROUND"), &round)
	pki := filepath.Join(dir, "pki")
	n, err := trust.LoadNode(trust.NodeFiles{RootCert: filepath.Join(pki, trust.RootCertFile), Cert: filepath.Join(pki, "pole-1.pem"),
		Key: filepath.Join(pki, "pole-1.key")}, trust.RoleDevice, "pole-1", time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	v, err := n.Verifier(true, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	st, err := store.Open(filepath.Join(dir, RecordsFile), store.DefaultOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	// As the pole runs: the node queues the acks as it stores them.
	node, err := mesh.NewNode(mesh.NodeConfig{ID: "pole-1", Store: st, Verifier: v, Outbox: OwnOutbox("pole-1"),
		StatePath: filepath.Join(dir, TrustStateFile), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go node.Run(context.Background())
	kid, _ := record.NewSigner(n.Key, n.Leaf.Raw, false)
	chain, _ := record.NewSigner(n.Key, n.Leaf.Raw, true, n.CityCA.Raw)
	a, err := NewAcker("pole-1", kid, chain, node, st)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if _, err := a.Ack(context.Background(), ackedRecord(round, i), record.AckReceived, "", time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "ack:", err)
			os.Exit(3)
		}
		fmt.Fprintf(w, "acked %d %d\n", round, i)
		w.Flush()
	}
}
