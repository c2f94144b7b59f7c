package desk_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cityarray/cityarray/server/desk"
)

// TestList pages through alerts newest first, with and without a state
// filter, and refuses cursors from another query.
func TestList(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.login("sam")
	var drafts, published []string
	for i := range 7 {
		e.clk.Advance(time.Second)
		if i%3 == 0 {
			published = append(published, e.publish(sam, sam, draftReq("warning", "city")).ID)
			continue
		}
		a, err := e.desk.Draft(sam, draftReq("warning", "city"))
		if err != nil {
			t.Fatal(err)
		}
		drafts = append(drafts, a.ID)
	}
	all := func(q desk.ListQuery) ([]string, []int) {
		t.Helper()
		var ids []string
		var sizes []int
		for {
			p, err := e.desk.List(sam, q)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(p.Alerts))
			for _, a := range p.Alerts {
				if q.State != "" && a.State != q.State {
					t.Errorf("%s in a %s list", a.State, q.State)
				}
				ids = append(ids, a.ID)
			}
			if p.Next == "" {
				return ids, sizes
			}
			q.Cursor = p.Next
		}
	}
	rev := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[len(s)-1-i] = v
		}
		return out
	}
	ids, sizes := all(desk.ListQuery{State: desk.StateDraft, Limit: 3})
	if diff := cmp.Diff(rev(drafts), ids); diff != "" {
		t.Errorf("drafts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 1}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	ids, _ = all(desk.ListQuery{State: desk.StatePublished, Limit: 2})
	if diff := cmp.Diff(rev(published), ids); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	ids, sizes = all(desk.ListQuery{Limit: 4})
	if len(ids) != 7 || !cmp.Equal(sizes, []int{4, 3}) {
		t.Errorf("all: %d ids in pages %v", len(ids), sizes)
	}

	p, _ := e.desk.List(sam, desk.ListQuery{State: desk.StateDraft, Limit: 1})
	for _, q := range []desk.ListQuery{
		{State: desk.StatePublished, Cursor: p.Next},
		{Cursor: p.Next},
		{Cursor: "not a cursor!"},
		{Cursor: "AQ"},
	} {
		if _, err := e.desk.List(sam, q); !errors.Is(err, desk.ErrBadCursor) || desk.StatusCode(err) != http.StatusBadRequest {
			t.Errorf("%+v: %v", q, err)
		}
	}
	if _, err := e.desk.List(sam, desk.ListQuery{State: "lost"}); !errors.Is(err, desk.ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
	// A page survives its last alert changing state.
	p, _ = e.desk.List(sam, desk.ListQuery{State: desk.StateDraft, Limit: 2})
	if _, err := e.desk.Submit(sam, p.Alerts[1].ID); err != nil {
		t.Fatal(err)
	}
	p2, err := e.desk.List(sam, desk.ListQuery{State: desk.StateDraft, Cursor: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Alerts) != 2 || p2.Alerts[0].ID != drafts[1] {
		t.Errorf("after a state change: %d alerts", len(p2.Alerts))
	}
	if _, err := e.desk.List(e.login("tess"), desk.ListQuery{}); err != nil {
		t.Errorf("technician reads alerts: %v", err)
	}
}

func TestStatusCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{&desk.FieldError{Msg: "malformed JSON"}, 400},
		{&desk.FieldError{Field: "tier", Msg: "x"}, 422},
		{desk.ErrBadCursor, 400},
		{&desk.Error{Kind: desk.ErrNotFound}, 404},
		{&desk.Error{Kind: desk.ErrForbidden}, 403},
		{&desk.Error{Kind: desk.ErrOutOfScope}, 403},
		{&desk.Error{Kind: desk.ErrTwoPerson}, 403},
		{&desk.Error{Kind: desk.ErrFreshTOTPRequired}, 401},
		{&desk.Error{Kind: desk.ErrState}, 409},
		{&desk.Error{Kind: desk.ErrNoOfficerKey}, 409},
		{&desk.Error{Kind: desk.ErrUnsupportedTier}, 422},
		{&desk.Error{Kind: desk.ErrRefused}, 502},
		{&desk.Error{Kind: desk.ErrNotDelivered}, 503},
		{errors.New("disk full"), 500},
	} {
		if got := desk.StatusCode(tc.err); got != tc.want {
			t.Errorf("StatusCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	e := &desk.Error{Op: "approve", What: "alert", ID: "abc", Kind: desk.ErrState, Detail: "draft: only a submitted alert can be approved"}
	if got, want := e.Error(), "desk: approve alert abc: draft: only a submitted alert can be approved"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
