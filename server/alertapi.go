package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cityarray/cityarray/mesh/record"
	"github.com/cityarray/cityarray/server/auth"
	"github.com/cityarray/cityarray/server/desk"
	"github.com/cityarray/cityarray/server/fleet"
)

// registerDeskRoutes adds the alert, protocol, device and officer-key
// endpoints (see # Endpoints). Each has its OpenAPI description in
// deskDocs, which TestOpenAPICoversRoutes holds to the registry.
func (s *Server) registerDeskRoutes() {
	perm := func(pattern string, p auth.Permission, f apiFunc) {
		op, ok := deskDocs[pattern]
		if !ok {
			panic("server: no OpenAPI description for " + pattern)
		}
		s.Handle(pattern, p, s.api(f), WithDoc(op))
	}
	perm("POST /api/v1/alerts", auth.PermAlertDraft, s.draftAlert)
	perm("GET /api/v1/alerts", auth.PermAlertRead, s.listAlerts)
	perm("GET /api/v1/alerts/{id}", auth.PermAlertRead, s.getAlert)
	perm("PUT /api/v1/alerts/{id}", auth.PermAlertDraft, s.editAlert)
	perm("POST /api/v1/alerts/{id}/submit", auth.PermAlertSubmit, s.alertStep("submit"))
	perm("POST /api/v1/alerts/{id}/approve", auth.PermAlertApprove, s.alertStep("approve"))
	perm("POST /api/v1/alerts/{id}/reject", auth.PermAlertApprove, s.rejectAlert)
	perm("POST /api/v1/alerts/{id}/publish", auth.PermAlertPublish, s.alertStep("publish"))
	perm("POST /api/v1/alerts/{id}/update", auth.PermAlertPublish, s.updateAlert)
	// The author of an unpublished alert may cancel it with alert.draft;
	// the desk asks for alert.cancel in every other case.
	perm("POST /api/v1/alerts/{id}/cancel", auth.PermAlertDraft, s.cancelAlert)
	perm("GET /api/v1/alerts/{id}/status", auth.PermAlertRead, s.alertStatus)
	perm("GET /api/v1/alerts/{id}/deliveries", auth.PermAlertRead, s.alertDeliveries)

	perm("GET /api/v1/protocols", auth.PermProtocolRead, s.listProtocols)
	perm("POST /api/v1/protocols", auth.PermProtocolManage, s.saveProtocol)
	perm("GET /api/v1/protocols/{name}", auth.PermProtocolRead, s.getProtocol)
	perm("POST /api/v1/protocols/{name}/publish", auth.PermProtocolManage, s.protocolStep("publish"))
	perm("POST /api/v1/protocols/{name}/retire", auth.PermProtocolManage, s.protocolStep("retire"))

	perm("GET /api/v1/devices", auth.PermDeviceRead, s.listDevices)
	perm("GET /api/v1/devices/{id}", auth.PermDeviceRead, s.getDevice)
	perm("POST /api/v1/devices/{id}/revoke", auth.PermDeviceRevoke, s.revokeDevice)
	perm("POST /api/v1/devices/{id}/command", auth.PermDeviceCommand, s.commandDevice)

	perm("POST /api/v1/officers/{id}/key", auth.PermUserManage, s.createOfficerKey)
	perm("GET /api/v1/officers/{id}/key", auth.PermUserRead, s.officerKey)
	perm("DELETE /api/v1/officers/{id}/key", auth.PermUserManage, s.removeOfficerKey)
}

// --- input

// alertIDRE is the desk's alert id syntax: 10 random bytes in lower-case
// base32, no padding.
var alertIDRE = regexp.MustCompile(`^[a-z2-7]{16}$`)

func pathAlertID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !alertIDRE.MatchString(id) {
		return "", ValidationProblem(FieldError{Field: "id", Detail: "an alert id is 16 characters of a-z and 2-7"})
	}
	return id, nil
}

// pathNodeID checks a path parameter that names a device or a protocol:
// the record format's node id syntax (letters, digits, then '-', '_',
// '.', at most 64 bytes).
func pathNodeID(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	if record.ValidateNodeID(id) != nil {
		return "", ValidationProblem(FieldError{Field: name, Detail: what + " is 1 to 64 letters, digits, '-', '_' and '.', starting with a letter or digit"})
	}
	return id, nil
}

// decodeDesk reads a request body the way every endpoint does (media
// type, size, one JSON value, no unknown field, right types: problems as
// DecodeJSON gives them), then decodes it with the desk's own strict
// decoder (exact key case, no key twice), whose errors name the field.
func decodeDesk[T any](s *Server, r *http.Request, dec func(io.Reader) (T, error)) (T, error) {
	var zero T
	body, err := readJSONBody(r, s.cfg.HTTP.MaxBodyBytes)
	if err != nil {
		return zero, err
	}
	probe := new(T)
	if err := decodeStrict(body, probe); err != nil {
		return zero, err
	}
	v, err := dec(bytes.NewReader(body))
	if err != nil {
		// What the JSON checks above let through (a key of the wrong
		// case): a malformed request, not refused content.
		var fe *desk.FieldError
		if errors.As(err, &fe) {
			if fe.Field == "" {
				return zero, NewProblem(http.StatusBadRequest, ProblemMalformedJSON, fe.Msg)
			}
			return zero, ValidationProblem(BodyField(fe.Field, fe.Msg))
		}
		return zero, err
	}
	return v, nil
}

func decodeDraft(r io.Reader) (desk.DraftRequest, error) {
	req, err := desk.DecodeDraft(r)
	if err != nil {
		return desk.DraftRequest{}, err
	}
	return *req, nil
}

func decodeUpdate(r io.Reader) (desk.UpdateRequest, error) {
	req, err := desk.DecodeUpdate(r)
	if err != nil {
		return desk.UpdateRequest{}, err
	}
	return *req, nil
}

func decodeProtocol(r io.Reader) (record.Protocol, error) {
	p, err := desk.DecodeProtocol(r)
	if err != nil {
		return record.Protocol{}, err
	}
	return *p, nil
}

func decodeCommand(r io.Reader) (desk.CommandRequest, error) {
	req, err := desk.DecodeCommand(r)
	if err != nil {
		return desk.CommandRequest{}, err
	}
	return *req, nil
}

// reasonRequest is the body of reject, cancel and revoke.
type reasonRequest struct {
	Reason string `json:"reason"`
}

// decodeReason reads {"reason": …}; an endpoint whose reason is optional
// also takes no body at all.
func (s *Server) decodeReason(r *http.Request, required bool) (string, error) {
	if !required && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
			return "", err
		}
		return "", nil
	}
	var req reasonRequest
	if err := s.Decode(r, &req); err != nil {
		return "", err
	}
	if required && strings.TrimSpace(req.Reason) == "" {
		return "", ValidationProblem(BodyField("reason", "required"))
	}
	return req.Reason, nil
}

// --- alerts

func (s *Server) draftAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	req, err := decodeDesk(s, r, decodeDraft)
	if err != nil {
		return err
	}
	a, err := s.desk.Draft(p, &req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/alerts/"+a.ID)
	WriteJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var state desk.State
	if vs, ok := r.URL.Query()["state"]; ok {
		if len(vs) != 1 || !desk.State(vs[0]).Valid() {
			return ValidationProblem(FieldError{Field: "state", Detail: "one of " + joinStates(desk.States())})
		}
		state = desk.State(vs[0])
	}
	list := "alerts:" + string(state)
	pg, err := s.ParsePage(r, list)
	if err != nil {
		return err
	}
	page, err := s.desk.List(p, desk.ListQuery{State: state, Cursor: pg.After, Limit: pg.Limit})
	if err != nil {
		return err
	}
	resp := PageResponse[desk.Alert]{Items: page.Alerts}
	if page.Next != "" {
		resp.NextCursor = s.NextCursor(list, page.Next)
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

func joinStates[T ~string](ss []T) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	v, err := s.desk.Get(p, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) editAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	req, err := decodeDesk(s, r, decodeDraft)
	if err != nil {
		return err
	}
	a, err := s.desk.Edit(p, id, &req)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a)
	return nil
}

// alertStep is submit, approve or publish: no input but the alert id.
func (s *Server) alertStep(step string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		id, err := pathAlertID(r)
		if err != nil {
			return err
		}
		if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
			return err
		}
		var a *desk.Alert
		switch step {
		case "submit":
			a, err = s.desk.Submit(p, id)
		case "approve":
			a, err = s.desk.Approve(p, id)
		case "publish":
			a, err = s.desk.Publish(r.Context(), p, id)
		default:
			panic("server: alert step " + step)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, a)
		return nil
	}
}

func (s *Server) rejectAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	reason, err := s.decodeReason(r, true)
	if err != nil {
		return err
	}
	a, err := s.desk.Reject(p, id, reason)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) updateAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	req, err := decodeDesk(s, r, decodeUpdate)
	if err != nil {
		return err
	}
	a, err := s.desk.Update(r.Context(), p, id, &req)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) cancelAlert(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	reason, err := s.decodeReason(r, false)
	if err != nil {
		return err
	}
	a, err := s.desk.Cancel(r.Context(), p, id, reason)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a)
	return nil
}

// deliveryStatusJSON is an alert's delivery at a glance: fleet's counts,
// the alert's state, and how many devices were not reached.
type deliveryStatusJSON struct {
	fleet.DeliveryStatus
	State      desk.State  `json:"state"`
	Tier       record.Tier `json:"tier"`
	NotReached int         `json:"not_reached"`
	AsOf       time.Time   `json:"as_of"`
}

// publishedAlert returns the alert id names, or a 409 if it was never
// published (it has no deliveries).
func (s *Server) publishedAlert(p *auth.Principal, id string) (*desk.Alert, error) {
	v, err := s.desk.Get(p, id)
	if err != nil {
		return nil, err
	}
	if v.Alert.PublishedAt.IsZero() {
		return nil, NewProblem(http.StatusConflict, ProblemWrongState,
			fmt.Sprintf("alert %s is %s: it has no deliveries until it is published", id, v.Alert.State))
	}
	return &v.Alert, nil
}

func (s *Server) alertStatus(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	a, err := s.publishedAlert(p, id)
	if err != nil {
		return err
	}
	st, err := s.fleet.Status(id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, deliveryStatusJSON{DeliveryStatus: st, State: a.State, Tier: a.Tier,
		NotReached: st.States[fleet.NotReached], AsOf: s.clock.Now().UTC()})
	return nil
}

func (s *Server) alertDeliveries(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathAlertID(r)
	if err != nil {
		return err
	}
	var state fleet.DeliveryState
	if vs, ok := r.URL.Query()["state"]; ok {
		if len(vs) != 1 || !slices.Contains(fleet.DeliveryStates(), fleet.DeliveryState(vs[0])) {
			return ValidationProblem(FieldError{Field: "state", Detail: "one of " + joinStates(fleet.DeliveryStates())})
		}
		state = fleet.DeliveryState(vs[0])
	}
	list := "deliveries:" + id + ":" + string(state)
	pg, err := s.ParsePage(r, list)
	if err != nil {
		return err
	}
	if _, err := s.publishedAlert(p, id); err != nil {
		return err
	}
	page, err := s.fleet.Deliveries(id, fleet.DeliveryQuery{State: state, Cursor: pg.After, Limit: pg.Limit})
	if err != nil {
		return err
	}
	resp := PageResponse[fleet.DeviceDelivery]{Items: page.Devices}
	if resp.Items == nil {
		resp.Items = []fleet.DeviceDelivery{}
	}
	if page.Next != "" {
		resp.NextCursor = s.NextCursor(list, page.Next)
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

// --- protocols

func (s *Server) listProtocols(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ps, err := s.desk.Protocols(p)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []desk.Protocol{}
	}
	WriteJSON(w, http.StatusOK, PageResponse[desk.Protocol]{Items: ps})
	return nil
}

func (s *Server) saveProtocol(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	body, err := decodeDesk(s, r, decodeProtocol)
	if err != nil {
		return err
	}
	pr, err := s.desk.SaveProtocol(p, &body)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if pr.Version == 1 {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/protocols/"+pr.Name)
	}
	WriteJSON(w, status, pr)
	return nil
}

func (s *Server) getProtocol(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	name, err := pathNodeID(r, "name", "a protocol name")
	if err != nil {
		return err
	}
	pr, err := s.desk.GetProtocol(p, name)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, pr)
	return nil
}

func (s *Server) protocolStep(step string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		name, err := pathNodeID(r, "name", "a protocol name")
		if err != nil {
			return err
		}
		if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
			return err
		}
		var pr *desk.Protocol
		if step == "publish" {
			pr, err = s.desk.PublishProtocol(r.Context(), p, name)
		} else {
			pr, err = s.desk.RetireProtocol(p, name)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, pr)
		return nil
	}
}

// --- devices

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var zone string
	if vs, ok := r.URL.Query()["zone"]; ok {
		if len(vs) != 1 || record.ValidateNodeID(vs[0]) != nil {
			return ValidationProblem(FieldError{Field: "zone", Detail: "one zone id: letters, digits, '-', '_' and '.'"})
		}
		zone = vs[0]
	}
	list := "devices:" + zone
	pg, err := s.ParsePage(r, list)
	if err != nil {
		return err
	}
	devs := s.fleet.Devices(zone)
	i, _ := slices.BinarySearchFunc(devs, pg.After, func(d fleet.Device, id string) int { return strings.Compare(d.ID, id) })
	if pg.After != "" && i < len(devs) && devs[i].ID == pg.After {
		i++
	}
	resp := PageResponse[fleet.Device]{Items: devs[i:min(i+pg.Limit, len(devs))]}
	if i+pg.Limit < len(devs) {
		resp.NextCursor = s.NextCursor(list, devs[i+pg.Limit-1].ID)
	}
	WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathNodeID(r, "id", "a device id")
	if err != nil {
		return err
	}
	d, ok := s.fleet.Device(id)
	if !ok {
		return NewProblem(http.StatusNotFound, ProblemNotFound, "no device "+id+" in the registry")
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathNodeID(r, "id", "a device id")
	if err != nil {
		return err
	}
	reason, err := s.decodeReason(r, true)
	if err != nil {
		return err
	}
	d, err := s.fleet.Revoke(r.Context(), p, id, reason)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

// commandJSON is what a device command returns: the signed record.
type commandJSON struct {
	Device  string    `json:"device"`
	Action  string    `json:"action"`
	Value   *int      `json:"value,omitempty"`
	Record  record.ID `json:"record"`
	Seq     uint64    `json:"seq"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

func (s *Server) commandDevice(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathNodeID(r, "id", "a device id")
	if err != nil {
		return err
	}
	req, err := decodeDesk(s, r, decodeCommand)
	if err != nil {
		return err
	}
	rec, err := s.desk.Command(r.Context(), p, id, &req)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, commandJSON{Device: id, Action: req.Action, Value: req.Value, Record: rec.ID(),
		Seq: rec.Seq, Issued: rec.Issued.UTC(), Expires: rec.Expires.UTC()})
	return nil
}

// --- officer keys

// pathOfficer checks an officer id (a user id) and that the user exists.
func (s *Server) pathOfficer(r *http.Request, p *auth.Principal) (string, error) {
	id, err := pathUserID(r)
	if err != nil {
		return "", err
	}
	if _, err := s.auth.User(p, id); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Server) createOfficerKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := s.pathOfficer(r, p)
	if err != nil {
		return err
	}
	if err := decodeNone(r, s.cfg.HTTP.MaxBodyBytes); err != nil {
		return err
	}
	if !s.cityCAKey {
		return NewProblem(http.StatusServiceUnavailable, ProblemNoCityCA,
			"the server holds no city CA key (pki.city_key) to certify officer keys; issue one offline with `cityarray keys issue --role operator`")
	}
	k, err := s.desk.CreateOfficerKey(p, id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/officers/"+id+"/key")
	WriteJSON(w, http.StatusCreated, k)
	return nil
}

func (s *Server) officerKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	k, err := s.desk.OfficerKeyInfo(p, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) removeOfficerKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := s.desk.RemoveOfficerKey(p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
