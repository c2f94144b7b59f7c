package desk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/desk"
)

func intp(v int) *int { return &v }

// TestCommand: a technician's command is a server-signed warning-tier
// record for the device, taking the desk's next seq, accepted by the mesh
// and audited; bad requests and other roles are refused and audited.
func TestCommand(t *testing.T) {
	e := newEnv(t, nil)
	tess := e.login("tess")
	sam := e.login("sam")
	e.login("vic")

	// An alert, then a command, then an alert: the three seqs follow
	// each other, so the verifiers' replay windows see one sequence.
	a1 := e.publish(sam, sam, draftReq("warning", "zone:z1"))
	rec, err := e.desk.Command(ctx(), tess, "pole-1", &desk.CommandRequest{Action: "brightness", Value: intp(40)})
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	a2 := e.publish(sam, sam, draftReq("warning", "zone:z1"))
	v1, _ := e.desk.Get(sam, a1.ID)
	v2, _ := e.desk.Get(sam, a2.ID)
	if s1, s2 := v1.Records[0].Seq, v2.Records[0].Seq; rec.Seq != s1+1 || s2 != rec.Seq+1 {
		t.Errorf("seqs %d, %d (command), %d: want consecutive", s1, rec.Seq, s2)
	}
	if rec.Kind != record.KindCommand || rec.Tier != record.TierWarning || rec.Scope != record.DeviceScope("pole-1") || rec.Origin != "server-1" {
		t.Errorf("command record %s", rec)
	}
	if c, ok := rec.Body.(*record.Command); !ok || c.Action != "brightness" || c.Value != 40 {
		t.Errorf("body %+v", rec.Body)
	}
	if ok, err := e.node.Store().Has(rec.ID()); err != nil || !ok {
		t.Errorf("the command is not in the mesh store (%v)", err)
	}
	var audited bool
	for _, en := range e.aud.Take() {
		if en.Action == "device.command" && en.Target == "pole-1" && en.Actor == "tess" && en.Detail["record"] == rec.ID().String() {
			audited = true
		}
	}
	if !audited {
		t.Error("the command was not audited")
	}

	for _, tc := range []struct {
		name   string
		by     string
		device string
		req    *desk.CommandRequest
		want   error
		field  string
	}{
		{"supervisor", "sam", "pole-1", &desk.CommandRequest{Action: "test-pattern"}, desk.ErrForbidden, ""},
		{"viewer", "vic", "pole-1", &desk.CommandRequest{Action: "test-pattern"}, desk.ErrForbidden, ""},
		{"unknown device", "tess", "pole-404", &desk.CommandRequest{Action: "test-pattern"}, desk.ErrNotFound, ""},
		{"bad device id", "tess", "../x", &desk.CommandRequest{Action: "test-pattern"}, desk.ErrInvalid, ""},
		{"reboot", "tess", "pole-1", &desk.CommandRequest{Action: "reboot"}, desk.ErrInvalid, "action"},
		{"no action", "tess", "pole-1", &desk.CommandRequest{}, desk.ErrInvalid, "action"},
		{"no value", "tess", "pole-1", &desk.CommandRequest{Action: "volume"}, desk.ErrInvalid, "value"},
		{"value too high", "tess", "pole-1", &desk.CommandRequest{Action: "volume", Value: intp(101)}, desk.ErrInvalid, "value"},
		{"value for a test pattern", "tess", "pole-1", &desk.CommandRequest{Action: "test-pattern", Value: intp(1)}, desk.ErrInvalid, "value"},
		{"lifetime", "tess", "pole-1", &desk.CommandRequest{Action: "test-pattern", Lifetime: "48h"}, desk.ErrInvalid, "lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.principal(tc.by)
			_, err := e.desk.Command(ctx(), p, tc.device, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var fe *desk.FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Errorf("err %v: want field %q named", err, tc.field)
			}
			if tc.want != desk.ErrNotFound {
				var refused bool
				for _, en := range e.aud.Take() {
					if en.Action == "device.refused" && en.Detail["op"] == "command" {
						refused = true
					}
				}
				if !refused {
					t.Error("the refusal was not audited")
				}
			}
		})
	}
}

func TestDecodeCommand(t *testing.T) {
	req, err := desk.DecodeCommand(strings.NewReader(`{"action":"volume","value":30,"lifetime":"1m"}`))
	if err != nil || req.Action != "volume" || *req.Value != 30 || req.Lifetime != "1m" {
		t.Fatalf("%+v, %v", req, err)
	}
	if _, err := desk.DecodeCommand(strings.NewReader(`{"action":"volume","Value":30}`)); !errors.Is(err, desk.ErrInvalid) {
		t.Errorf("a key of the wrong case: %v", err)
	}
}
