package gossip

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummaryRoundTrip(t *testing.T) {
	for _, s := range []summary{
		{name: "pole-1", fp: [16]byte{1, 2, 3}, count: 0},
		{name: "server-1", fp: [16]byte{0xff}, count: 300},
		{name: strings.Repeat("a", maxName), count: 1 << 40},
	} {
		b := s.appendTo(nil)
		got, err := parseSummary(b)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if diff := cmp.Diff(s, got, cmp.AllowUnexported(summary{})); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func TestParseSummaryRejects(t *testing.T) {
	good := (&summary{name: "p1", count: 5}).appendTo(nil)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"version", append([]byte{2}, good[1:]...), "version 2"},
		{"no name", []byte{1, 0}, "name of 0 bytes"},
		{"short", good[:len(good)-2], "name of 2 bytes in"},
		{"bad name", append([]byte{1, 2, 'p', ' '}, good[4:]...), "sender"},
		{"trailing", append(append([]byte{}, good...), 0), "trailing"},
		{"long count", append(append([]byte{}, good[:len(good)-1]...), 0x85, 0x00), "shortest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSummary(tt.b)
			if !errors.Is(err, ErrBadSummary) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseSummary = %v, want ErrBadSummary mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzParseSummary: no input panics the parser, and what it accepts
// encodes back to the same bytes.
func FuzzParseSummary(f *testing.F) {
	f.Add((&summary{name: "pole-1", fp: [16]byte{1}, count: 3}).appendTo(nil))
	f.Add([]byte{1, 1, 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSummary(b)
		if err != nil {
			return
		}
		if again := s.appendTo(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding changed the bytes:\n% x\n% x", b, again)
		}
	})
}

var snapNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestSnapshotRoundTrip(t *testing.T) {
	peers := map[string]*peerInfo{
		"pole-2": {addr: "10.0.0.2:7946", seen: snapNow.Add(-time.Hour)},
		"gw-z1":  {addr: "[fd00::1]:7946", seen: snapNow.Add(-71 * time.Hour)},
		"pole-9": {addr: "10.0.0.9:7946", seen: snapNow.Add(-73 * time.Hour)}, // forgotten on load
	}
	b, err := marshalSnapshot(peers)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSnapshot(b, snapNow)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pole-2": "10.0.0.2:7946", "gw-z1": "[fd00::1]:7946"}
	gotAddrs := map[string]string{}
	for name, p := range got {
		gotAddrs[name] = p.addr
		if !p.seen.Equal(peers[name].seen) {
			t.Errorf("%s last seen %v, want %v", name, p.seen, peers[name].seen)
		}
	}
	if diff := cmp.Diff(want, gotAddrs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseSnapshotRejects(t *testing.T) {
	const ok = `"last_seen":"2026-11-27T10:00:00Z"`
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{`, "unexpected EOF"},
		{"unknown field", `{"version":1,"members":[],"extra":1}`, "unknown field"},
		{"version", `{"version":2,"members":[]}`, "version 2"},
		{"trailing", `{"version":1,"members":[]} {}`, "data after"},
		{"bad name", `{"version":1,"members":[{"name":"a b","addr":"10.0.0.1:1",` + ok + `}]}`, "name"},
		{"bad addr", `{"version":1,"members":[{"name":"p1","addr":"pole:1",` + ok + `}]}`, "address"},
		{"no time", `{"version":1,"members":[{"name":"p1","addr":"10.0.0.1:1"}]}`, "no last_seen"},
		{"twice", `{"version":1,"members":[{"name":"p1","addr":"10.0.0.1:1",` + ok + `},{"name":"p1","addr":"10.0.0.1:1",` + ok + `}]}`, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSnapshot([]byte(tt.json), snapNow)
			if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseSnapshot = %v, want ErrBadSnapshot mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzParseSnapshot: no input panics the parser, and what it accepts
// survives a round trip.
func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"members":[{"name":"p1","addr":"10.0.0.1:7946","last_seen":"2026-11-27T10:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"members":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		peers, err := parseSnapshot(b, snapNow)
		if err != nil {
			return
		}
		out, err := marshalSnapshot(peers)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseSnapshot(out, snapNow)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if len(again) != len(peers) {
			t.Fatalf("%d members, then %d", len(peers), len(again))
		}
	})
}
