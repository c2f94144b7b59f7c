package trust

import (
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIdentityValidate(t *testing.T) {
	tests := []struct {
		id      Identity
		wantErr string // substring; "" for valid
	}{
		{Identity{Role: RoleDevice, ID: "pole-0001", Zone: "z1"}, ""},
		{Identity{Role: RoleGateway, ID: "gw-1", Zone: "north.7"}, ""},
		{Identity{Role: RoleServer, ID: "server-1"}, ""},
		{Identity{Role: RoleOperator, ID: "officer_7"}, ""},
		{Identity{Role: RoleCA, ID: "metropolis"}, ""},
		{Identity{Role: RoleRoot, ID: "metropolis"}, ""},
		{Identity{Role: RoleDevice, ID: "pole-0001"}, "device \"pole-0001\" has no zone"},
		{Identity{Role: RoleGateway, ID: "gw-1"}, "gateway \"gw-1\" has no zone"},
		{Identity{Role: RoleServer, ID: "server-1", Zone: "z1"}, "server \"server-1\" has zone \"z1\""},
		{Identity{Role: RoleOperator, ID: "o", Zone: "z1"}, "only gateways and devices belong to a zone"},
		{Identity{Role: RoleCA, ID: "metropolis", Zone: "z1"}, "has zone"},
		{Identity{Role: "admin", ID: "x"}, "unknown role \"admin\""},
		{Identity{Role: "", ID: "x"}, "unknown role"},
		{Identity{Role: RoleServer, ID: ""}, "empty id"},
		{Identity{Role: RoleServer, ID: "a/b"}, "not allowed"},
		{Identity{Role: RoleServer, ID: "-lead"}, "not allowed"},
		{Identity{Role: RoleServer, ID: strings.Repeat("x", 65)}, "more than 64"},
		{Identity{Role: RoleDevice, ID: "p", Zone: "z 1"}, "zone: id \"z 1\""},
		{Identity{Role: RoleRoot, ID: ""}, "root city: empty id"},
	}
	for _, tt := range tests {
		err := tt.id.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tt.id, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v: error %v, want one containing %q", tt.id, err, tt.wantErr)
		case err != nil && !errors.Is(err, ErrBadIdentity):
			t.Errorf("%+v: %v does not wrap ErrBadIdentity", tt.id, err)
		}
	}
}

func TestIdentityURIRoundTrip(t *testing.T) {
	tests := []struct {
		id  Identity
		uri string
	}{
		{Identity{Role: RoleDevice, ID: "pole-0001", Zone: "z1"}, "cityarray://zone/z1/device/pole-0001"},
		{Identity{Role: RoleGateway, ID: "gw-1", Zone: "z1"}, "cityarray://zone/z1/gateway/gw-1"},
		{Identity{Role: RoleServer, ID: "server-1"}, "cityarray://server/server-1"},
		{Identity{Role: RoleOperator, ID: "officer-7"}, "cityarray://operator/officer-7"},
		{Identity{Role: RoleCA, ID: "metropolis"}, "cityarray://ca/metropolis"},
		{Identity{Role: RoleRoot, ID: "metropolis"}, "cityarray://root/metropolis"},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.uri {
			t.Errorf("%+v.String() = %q, want %q", tt.id, got, tt.uri)
		}
		got, err := ParseIdentityString(tt.uri)
		if err != nil {
			t.Errorf("ParseIdentityString(%q): %v", tt.uri, err)
			continue
		}
		if diff := cmp.Diff(tt.id, got); diff != "" {
			t.Errorf("ParseIdentityString(%q) (-want +got):\n%s", tt.uri, diff)
		}
	}
}

func TestParseIdentityRefuses(t *testing.T) {
	tests := []struct {
		uri, wantErr string
	}{
		{"https://server/server-1", "scheme is not cityarray"},
		{"cityarray://server/", "empty id"},
		{"cityarray://server", "no id"},
		{"cityarray://server/a/b", "want cityarray://server/<id>"},
		{"cityarray://server/server-1/", "want cityarray://server/<id>"},
		{"cityarray://device/pole-1", "a device needs a zone"},
		{"cityarray://gateway/gw-1", "a gateway needs a zone"},
		{"cityarray://zone/z1/server/s1", "role \"server\" cannot belong to a zone"},
		{"cityarray://zone/z1/device", "want cityarray://zone/<zone>/<device|gateway>/<id>"},
		{"cityarray://zone//device/p1", "device \"p1\" has no zone"},
		{"cityarray://admin/x", "unknown role \"admin\""},
		{"cityarray://server/server-1?x=1", "nothing else"},
		{"cityarray://server/server-1#frag", "nothing else"},
		{"cityarray://user@server/server-1", "nothing else"},
		{"cityarray://server:80/server-1", "nothing else"},
		{"cityarray://server/server%2d1", "nothing else"},
		{"cityarray://server/a%2Fb", "nothing else"},
		{"cityarray://SERVER/server-1", "unknown role"},
		{"cityarray:server/server-1", "nothing else"},
	}
	for _, tt := range tests {
		_, err := ParseIdentityString(tt.uri)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadIdentity) {
			t.Errorf("ParseIdentityString(%q): %v, want ErrBadIdentity containing %q", tt.uri, err, tt.wantErr)
		}
	}
	if _, err := ParseIdentity(nil); !errors.Is(err, ErrBadIdentity) {
		t.Errorf("ParseIdentity(nil): %v", err)
	}
}

func TestIdentityOf(t *testing.T) {
	f := testFixture()
	for _, n := range []*node{f.server, f.operator, f.gw1, f.dev1, f.caNode} {
		got, err := IdentityOf(n.cert)
		if err != nil {
			t.Errorf("IdentityOf(%s): %v", n.id, err)
			continue
		}
		if diff := cmp.Diff(n.id, got); diff != "" {
			t.Errorf("IdentityOf (-want +got):\n%s", diff)
		}
	}
	mk := func(isCA bool, uris ...string) *x509.Certificate {
		c := &x509.Certificate{IsCA: isCA}
		for _, s := range uris {
			u, _ := url.Parse(s)
			c.URIs = append(c.URIs, u)
		}
		return c
	}
	tests := []struct {
		name    string
		cert    *x509.Certificate
		wantErr string
	}{
		{"none", mk(false), "no cityarray URI SAN"},
		{"only other schemes", mk(false, "spiffe://metropolis/server-1"), "no cityarray URI SAN"},
		{"two", mk(false, "cityarray://server/a", "cityarray://server/b"), "more than one"},
		{"leaf marked CA", mk(true, "cityarray://server/a"), "CA flag is true"},
		{"CA not marked CA", mk(false, "cityarray://ca/metropolis"), "CA flag is false"},
		{"bad identity", mk(false, "cityarray://server/a%20b"), "not allowed"},
		{"nil", nil, "no certificate"},
	}
	for _, tt := range tests {
		_, err := IdentityOf(tt.cert)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: IdentityOf: %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
	// Another scheme alongside is ignored.
	got, err := IdentityOf(mk(false, "spiffe://x/y", "cityarray://server/a"))
	if err != nil || got != (Identity{Role: RoleServer, ID: "a"}) {
		t.Errorf("IdentityOf with a spiffe URI too: %v, %v", got, err)
	}
}
