package yamlconf

import (
	"fmt"
	"slices"
	"testing"
)

// TestUplinksProblems: each bad broker URL is named by its list and index;
// an interface name is checked, and refused without a cellular broker to
// bind.
func TestUplinksProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    Uplinks
		want []string
	}{
		{"good", Uplinks{Primary: []string{"tls://gw:8883"}, Cellular: []string{"tls://srv:8883"}, Interface: "wwan0"}, nil},
		{"bad URLs", Uplinks{Primary: []string{"tls://gw:8883", "mqtt://gw:1883"}, Cellular: []string{"gw"}},
			[]string{"p[1]", "c[0]"}},
		{"bad interface", Uplinks{Cellular: []string{"tls://srv:8883"}, Interface: "wwan/0"}, []string{"i"}},
		{"interface without cellular", Uplinks{Primary: []string{"tls://gw:8883"}, Interface: "wwan0"}, []string{"i: set, but c names no broker"}},
	} {
		tc.u.PrimaryField, tc.u.CellularField, tc.u.InterfaceField = "p", "c", "i"
		var got []string
		tc.u.Problems(func(field, format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			if field == "i" && msg == "set, but c names no broker" {
				got = append(got, field+": "+msg)
				return
			}
			got = append(got, field)
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: problems at %v, want %v", tc.name, got, tc.want)
		}
	}
}
