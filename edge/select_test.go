package edge

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/mesh/record"
)

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func alertBody(texts ...string) *record.Alert {
	a := &record.Alert{Texts: map[string]record.AlertText{}, Severity: "Severe", Urgency: "Immediate", Certainty: "Observed", Category: "Met"}
	for _, kv := range texts {
		lang, text, _ := strings.Cut(kv, "=")
		a.Texts[lang] = record.AlertText{Short: text}
	}
	return a
}

func TestLanguages(t *testing.T) {
	a := alertBody("en=Flood", "es=Inundación", "zh-Hans=洪水", "ar=فيضان")
	for _, tc := range []struct {
		zone []string
		want []string
	}{
		{[]string{"es", "en"}, []string{"es", "en"}},
		{[]string{"tl", "zh-Hans", "es", "zh-Hans"}, []string{"zh-Hans", "es"}},
		{[]string{"ko"}, []string{"en", "ar", "es", "zh-Hans"}},
		{nil, []string{"en", "ar", "es", "zh-Hans"}},
	} {
		if got := Languages(a, tc.zone); !cmp.Equal(got, tc.want) {
			t.Errorf("Languages(zone %v) = %v, want %v", tc.zone, got, tc.want)
		}
	}
}

// TestInterfaceOf: the loopback address belongs to the loopback interface
// (named lo on Linux, lo0 elsewhere); an address no interface has, none.
func TestInterfaceOf(t *testing.T) {
	if got := interfaceOf(net.ParseIP("127.0.0.1")); !strings.HasPrefix(got, "lo") {
		t.Errorf("interfaceOf(127.0.0.1) = %q", got)
	}
	if got := interfaceOf(net.ParseIP("192.0.2.77")); got != "" {
		t.Errorf("interfaceOf(TEST-NET address) = %q", got)
	}
}
