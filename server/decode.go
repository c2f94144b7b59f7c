package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// DefaultMaxBody is the request body cap when the configuration gives none.
const DefaultMaxBody = 64 << 10

// DecodeJSON reads r's body into v strictly, as every endpoint that takes
// a body does: Content-Type application/json (415 otherwise), at most
// maxBytes (413), not empty (400), exactly one JSON value and not null
// (400), no field that v does not have (400 naming it), no key given twice
// in one object (400 naming it), every field of the right type (400
// naming it and the type wanted). Errors are *Problem values that
// say what is wrong without echoing the body.
func DecodeJSON(r *http.Request, maxBytes int64, v any) error {
	body, err := readJSONBody(r, maxBytes)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// readJSONBody checks a request's media type and reads its body, at most
// maxBytes (DecodeJSON's first half).
func readJSONBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			return nil, NewProblem(http.StatusUnsupportedMediaType, ProblemMediaType, "send the body as Content-Type: application/json (UTF-8)")
		}
	} else {
		return nil, NewProblem(http.StatusUnsupportedMediaType, ProblemMediaType, "send the body as Content-Type: application/json")
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	if r.ContentLength > maxBytes {
		drainRefused(r)
		return nil, tooLarge(maxBytes)
	}
	// Read one byte more than allowed to tell "too large" from "at the
	// limit" without trusting Content-Length.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(maxBytes)
		}
		return nil, NewProblem(http.StatusBadRequest, ProblemBadRequest, "the request body could not be read")
	}
	if int64(len(body)) > maxBytes {
		drainRefused(r)
		return nil, tooLarge(maxBytes)
	}
	return body, nil
}

// drainLimit bounds how much of a refused body drainRefused reads.
const drainLimit = 256 << 10

// drainRefused reads and drops what is left of a body refused as too large,
// up to drainLimit. A connection the client asked to close is closed right
// after the response, and closing it with unread data resets it: a client
// still sending its body would get "connection reset" instead of the 413.
// net/http drains as much itself, but only on connections it keeps open.
func drainRefused(r *http.Request) {
	_, _ = io.CopyN(io.Discard, r.Body, drainLimit)
}

func tooLarge(max int64) *Problem {
	return NewProblem(http.StatusRequestEntityTooLarge, ProblemTooLarge, fmt.Sprintf("the body is larger than %d bytes", max))
}

// decodeStrict is DecodeJSON's parser on bytes (fuzzed).
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, "the body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, v)
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		_ = tok
		return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, fmt.Sprintf("unexpected data after the JSON value at offset %d: send exactly one value", dec.InputOffset()))
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, "the body is null: send a JSON object")
	}
	// encoding/json lets a later duplicate key win; two parsers that
	// disagree on which one counts is how checks get bypassed, so a key
	// given twice is refused.
	if field, dup := duplicateKey(json.NewDecoder(bytes.NewReader(body)), ""); dup {
		if len(field) > 64 || !printableASCII(field) {
			return ValidationProblem(FieldError{Detail: "a key is given twice"})
		}
		return ValidationProblem(BodyField(field, "given twice"))
	}
	return nil
}

// duplicateKey walks one well-formed JSON value and reports the first
// object key that appears twice in one object, as a dotted path.
func duplicateKey(dec *json.Decoder, path string) (string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return "", false
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", false
			}
			k, _ := kt.(string)
			p := k
			if path != "" {
				p = path + "." + k
			}
			if seen[k] {
				return p, true
			}
			seen[k] = true
			if f, dup := duplicateKey(dec, p); dup {
				return f, true
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if f, dup := duplicateKey(dec, fmt.Sprintf("%s[%d]", path, i)); dup {
				return f, true
			}
		}
	}
	dec.Token() // the closing delimiter
	return "", false
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error, v any) *Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, fmt.Sprintf("malformed JSON at offset %d", se.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, "the JSON value is cut short")
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, fmt.Sprintf("the body must be %s, not %s", jsonKind(reflect.TypeOf(v)), valueKind(te.Value)))
		}
		return ValidationProblem(BodyField(field, fmt.Sprintf("must be %s, not %s", jsonKind(te.Type), valueKind(te.Value))))
	}
	// encoding/json reports an unknown field only as text:
	// `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if len(name) > 64 || !printableASCII(name) {
			return ValidationProblem(FieldError{Detail: "unknown field"})
		}
		return ValidationProblem(BodyField(name, "unknown field"))
	}
	return NewProblem(http.StatusBadRequest, ProblemMalformedJSON, "the body is not valid JSON for this endpoint")
}

// valueKind names the JSON kind encoding/json found ("string", "number
// 1e999", "array"…) without the literal, which it may echo.
func valueKind(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "string", "number":
		return "a " + kind
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + kind
	case "null":
		return "null"
	}
	return "another type"
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}

// decodeNone accepts a request that carries no body, or an empty JSON
// object, for endpoints that take no input: anything else is refused so
// that a client's misplaced parameters do not pass silently.
func decodeNone(r *http.Request, maxBytes int64) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1))
		if len(b) == 0 {
			return nil
		}
	}
	var v struct{}
	return DecodeJSON(r, maxBytes, &v)
}
