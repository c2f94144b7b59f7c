package store_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/mesh/store"
)

// crashEnv, when set, makes TestCrashChild the writer that TestCrash kills:
// it names the store file; crashRoundEnv numbers the round.
const (
	crashEnv      = "CITYARRAY_STORE_CRASH_FILE"
	crashRoundEnv = "CITYARRAY_STORE_CRASH_ROUND"
)

// TestCrash proves that kill -9 loses no acknowledged record and corrupts
// nothing: a child process Puts records in a loop (single Puts and
// batches), printing each id only after the Put returned, and is SIGKILLed
// at a random point, over and over, on the same file. Every id a child
// printed must then be in the store, intact.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("testing.Short: TestCrash re-executes the test binary 60 times")
	}
	const rounds = 60
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(20300101, 1))
	acked := map[record.ID]int{} // id → round
	for round := range rounds {
		killAfter := rng.IntN(40) // ids to read before the kill; 0 kills during start-up or Open
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprintf("%s=%d", crashRoundEnv, round))
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
		read := func() bool {
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "put "); ok {
					p, err := record.ParseID(id)
					if err != nil {
						t.Fatalf("round %d: child printed %q: %v", round, sc.Text(), err)
					}
					acked[p] = round
					return true
				}
			}
			return false
		}
		n := 0
		for n < killAfter && read() {
			n++
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		for read() { // lines written before the kill landed are acknowledged too
		}
		err = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child ended after %d ids (%v):\n%s", round, n, err, stderr.String())
		}
	}

	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		t.Fatalf("reopen after %d kills: %v", rounds, err)
	}
	defer s.Close()
	for id, round := range acked {
		r, err := s.Get(id) // Get checks the bytes hash to id and parse
		if err != nil {
			t.Errorf("record %s acknowledged in round %d: %v", id.Short(), round, err)
			continue
		}
		if record.IDOf(r.Raw()) != id {
			t.Errorf("record %s: bytes hash to %s", id.Short(), record.IDOf(r.Raw()).Short())
		}
	}
	n, _ := s.Len()
	t.Logf("%d kills; %d acknowledged records all intact; %d stored", rounds, len(acked), n)
	if len(acked) < rounds {
		t.Errorf("only %d records acknowledged in %d rounds; the test is not exercising much", len(acked), rounds)
	}
}

// TestCrashChild is the writer TestCrash kills. Like os/exec's
// TestHelperProcess it is a child-process entry point, not a test: run
// without its environment variable it returns at once.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	var round int
	fmt.Sscan(os.Getenv(crashRoundEnv), &round)
	s, err := store.Open(path, store.DefaultOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(uint64(round), 2))
	w := bufio.NewWriter(os.Stdout)
	seq := uint64(round) << 32
	now := t0
	for i := 0; i < 5000; {
		batch := 1
		if rng.IntN(3) == 0 {
			batch = 1 + rng.IntN(20)
		}
		rs := make([]*record.Record, batch)
		for j := range rs {
			seq++
			rs[j] = sign(t, spec{Seq: seq, Origin: "crash", Expires: 1000 * time.Hour, Text: fmt.Sprintf("round %d record %d", round, i+j)})
		}
		if batch == 1 {
			_, err = s.Put(rs[0], now)
		} else {
			_, err = s.PutBatch(rs, now)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			os.Exit(3)
		}
		for _, r := range rs {
			fmt.Fprintf(w, "put %s\n", r.ID())
		}
		w.Flush()
		i += batch
	}
	s.Close()
}
