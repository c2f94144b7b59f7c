package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
)

// Pagination limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Page is a request for one page of a list: at most Limit items after the
// position the opaque cursor names (empty for the first page).
type Page struct {
	Limit int
	// After is what the cursor decoded to: the list's own position key
	// (a user id, an audit index), as the handler that made it wrote it.
	After string
}

// PageResponse is the envelope of every list response: the items, and a
// cursor for the next page unless this was the last.
type PageResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// cursors make opaque, tamper-evident page cursors: base64url of the
// position key and a MAC over it and the list's name, so that a client can
// neither read meaning into them nor forge one for another list.
type cursors struct{ key []byte }

func (c cursors) mac(list, pos string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("cityarray/server/cursor/v1\x00" + list + "\x00" + pos))
	return m.Sum(nil)[:12]
}

// Encode returns the cursor for position pos of list.
func (c cursors) Encode(list, pos string) string {
	b := append([]byte(pos), c.mac(list, pos)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the position of a cursor made by Encode for list.
func (c cursors) Decode(list, cur string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil || len(b) < 12 || len(b) > 512 {
		return "", false
	}
	pos, tag := string(b[:len(b)-12]), b[len(b)-12:]
	return pos, hmac.Equal(tag, c.mac(list, pos))
}

// ParsePage reads ?limit= (default 50, 1 to 500) and ?cursor= for list.
// Bad values are a 400 naming the parameter.
func (s *Server) ParsePage(r *http.Request, list string) (Page, error) {
	q := r.URL.Query()
	p := Page{Limit: DefaultPageLimit}
	var errs []FieldError
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 || n > MaxPageLimit {
			errs = append(errs, FieldError{Field: "limit", Detail: fmt.Sprintf("must be one integer from 1 to %d", MaxPageLimit)})
		} else {
			p.Limit = n
		}
	}
	if vs, ok := q["cursor"]; ok {
		pos, good := s.cursors.Decode(list, vs[0])
		if len(vs) != 1 || !good {
			errs = append(errs, FieldError{Field: "cursor", Detail: "not a cursor this list returned: use next_cursor as it came"})
		} else {
			p.After = pos
		}
	}
	if len(errs) > 0 {
		return p, ValidationProblem(errs...)
	}
	return p, nil
}

// NextCursor returns the cursor for the page after position pos of list.
func (s *Server) NextCursor(list, pos string) string { return s.cursors.Encode(list, pos) }

// deriveKey derives a purpose-bound key from a server secret, so that one
// stored key serves several uses without reuse across them.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("cityarray/server/derive/v1\x00" + purpose))
	return m.Sum(nil)
}
