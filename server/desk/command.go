package desk

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/auth"
)

// Command lifetimes: how long a device command stays valid on the way.
const (
	DefaultCommandLifetime = 10 * time.Minute
	MaxCommandLifetime     = 24 * time.Hour
)

// CommandActions are the actions an operator may send one device through
// the desk: a test pattern, and brightness or volume (0 to 100). Config
// documents and reboots are not sent from the desk.
var CommandActions = []string{"test-pattern", "brightness", "volume"}

// CommandRequest is a command for one device.
//
//	{"action": "brightness", "value": 40}
//	{"action": "test-pattern", "lifetime": "2m"}
type CommandRequest struct {
	Action string `json:"action"`
	// Value is 0 to 100, for brightness and volume only.
	Value *int `json:"value,omitempty"`
	// Lifetime is how long the command stays valid (a Go duration,
	// default 10m, at most 24h): a device that comes back later ignores it.
	Lifetime string `json:"lifetime,omitempty"`
}

// DecodeCommand decodes a command request as strictly as DecodeDraft.
func DecodeCommand(r io.Reader) (*CommandRequest, error) {
	req := new(CommandRequest)
	if err := decodeStrict(r, req); err != nil {
		return nil, err
	}
	return req, nil
}

// check validates the request and returns the command body and lifetime.
func (req *CommandRequest) check() (*record.Command, time.Duration, error) {
	if req == nil {
		return nil, 0, fieldErr("", "no request")
	}
	c := &record.Command{Action: req.Action}
	switch req.Action {
	case "test-pattern":
		if req.Value != nil {
			return nil, 0, fieldErr("value", "a test pattern takes no value")
		}
	case "brightness", "volume":
		if req.Value == nil {
			return nil, 0, fieldErr("value", "required for %s: 0 to 100", req.Action)
		}
		if *req.Value < 0 || *req.Value > 100 {
			return nil, 0, fieldErr("value", "0 to 100")
		}
		c.Value = int32(*req.Value)
	case "":
		return nil, 0, fieldErr("action", "required: one of %v", CommandActions)
	default:
		return nil, 0, fieldErr("action", "%q is not one of %v", req.Action, CommandActions)
	}
	life := DefaultCommandLifetime
	if req.Lifetime != "" {
		d, err := time.ParseDuration(req.Lifetime)
		if err != nil || d < time.Second || d > MaxCommandLifetime {
			return nil, 0, fieldErr("lifetime", "a duration from 1s to %v, such as 10m", MaxCommandLifetime)
		}
		life = d
	}
	return c, life, nil
}

// Command signs a command record for one device (device.command, and the
// device's scope) and hands it to the publisher: warning tier, scope
// device:<id>, origin the server, with the desk's next seq, so that
// commands and alerts share the server's one sequence (a seq of its own
// would leave the verifiers' replay windows behind one of the two). The
// device must be known to Options.DeviceZone when that is set. The
// record's id and seq are audited as device.command; a refusal as
// device.refused. If the publisher refuses the record the command fails
// with ErrRefused; if the hand-off fails otherwise, ErrNotDelivered and
// Renew hands it over again.
func (d *Desk) Command(ctx context.Context, by *auth.Principal, deviceID string, req *CommandRequest) (*record.Record, error) {
	const op = "command"
	refuse := func(err error) error { return d.refused(by, "device", op, deviceID, err) }
	if err := require(by, op, "device", deviceID, auth.PermDeviceCommand); err != nil {
		return nil, refuse(err)
	}
	if err := record.ValidateNodeID(deviceID); err != nil {
		return nil, refuse(&Error{Op: op, What: "device", ID: deviceID, Kind: ErrInvalid, Detail: err.Error()})
	}
	if d.opts.DeviceZone != nil {
		if _, ok := d.opts.DeviceZone(deviceID); !ok {
			return nil, &Error{Op: op, What: "device", ID: deviceID, Kind: ErrNotFound, Detail: "no such device in the registry"}
		}
	}
	scope := record.DeviceScope(deviceID)
	if !by.AllowedScope(string(scope), d.opts.DeviceZone) {
		return nil, refuse(&Error{Op: op, What: "device", ID: deviceID, Kind: ErrOutOfScope,
			Detail: by.UserID() + " may not act on " + string(scope)})
	}
	body, life, err := req.check()
	if err != nil {
		return nil, refuse(err)
	}

	d.signMu.Lock()
	defer d.signMu.Unlock()
	now := d.now()
	issued := now.UTC().Truncate(time.Millisecond)
	var p *pending
	err = d.db.Update(func(tx *bbolt.Tx) error {
		r := &record.Record{Kind: record.KindCommand, Tier: record.TierWarning, Scope: scope,
			Issued: issued, Expires: issued.Add(life), Body: body}
		rec, _, err := d.signIn(tx, op, "", r, by, now)
		if err != nil {
			return err
		}
		p = &pending{op: op, actor: by, device: deviceID, rec: rec}
		return nil
	})
	if err != nil {
		return nil, refuse(err)
	}
	det := map[string]string{"action": body.Action, "record": p.rec.ID().String(), "seq": strconv.FormatUint(p.rec.Seq, 10),
		"expires": p.rec.Expires.Format(time.RFC3339)}
	if body.Action != "test-pattern" {
		det["value"] = strconv.Itoa(int(body.Value))
	}
	_ = d.audit(entry(by, "device.command", deviceID, "ok", det))
	if err := d.deliver(ctx, []*pending{p})[0]; err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, err
		}
		return p.rec, err
	}
	return p.rec, nil
}
