// Package yamlconf decodes the YAML configuration files of every role
// (DESIGN §7) one way: strictly (unknown keys, wrong types and a second
// document are errors), with each problem carrying the FILE:LINE and the
// field it is about, and with a record of where each value came from (the
// file, a flag, or the default) so that validation errors found later point
// at the right place.
//
// A role keeps its own Config type and validation; it decodes with Decode,
// collects validation problems with Problems.Add, and returns them as one
// error that wraps ErrConfig.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrConfig is wrapped by every error Decode returns and by every Problems
// that is not empty.
var ErrConfig = errors.New("bad configuration")

// Error is one problem with a configuration value. Where says where the
// value came from: "FILE:LINE", a flag ("--http-listen"), or "" for a
// default.
type Error struct {
	Where string
	Field string // the YAML path, e.g. "http.tls.cert_file"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors joins problems so that errors.Is(err, ErrConfig) holds and each
// is reachable with errors.As.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(es, ErrConfig) hold.
func (es Errors) Is(target error) bool { return target == ErrConfig }

// Unwrap returns the problems.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns es as an error, or nil if there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Lines returns each problem of err as a line, or err's text if it is not
// a configuration error.
func Lines(err error) []string {
	var es Errors
	if errors.As(err, &es) {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Error()
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []string{err.Error()}
}

// Sources maps a field path ("http.listen") to where its value came from:
// "FILE:LINE" or a flag name. Fields absent have their default.
type Sources map[string]string

// Set records that field was set by source (a flag such as
// "--http-listen").
func (s *Sources) Set(field, source string) {
	if *s == nil {
		*s = Sources{}
	}
	(*s)[field] = source
}

// Where returns the source of field, or of its closest parent that has
// one ("" for a default).
func (s Sources) Where(field string) string {
	for f := field; f != ""; {
		if w, ok := s[f]; ok {
			return w
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return ""
}

// Problem returns a problem with field, placed where its value came from.
func (s Sources) Problem(field, format string, args ...any) *Error {
	return &Error{Where: s.Where(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

var (
	lineRE         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type .+$`)
	typeErrorRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// Decode decodes data, the file at path, into v over what v holds (its
// defaults), strictly, and records in src where each field it set came
// from. An empty file leaves v as it is.
func Decode(path string, data []byte, v any, src *Sources) error {
	// The node tree gives each line's field, for the decoder's errors,
	// which name only the line, and for validation's, which name the field.
	var root yaml.Node
	lineField := map[int]string{}
	fieldLine := map[string]int{}
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
		walk(root.Content[0], "", func(field string, line int) {
			// The deepest key on the line, not a list item of it.
			if _, ok := lineField[line]; !ok || !strings.HasSuffix(field, "]") {
				lineField[line] = field
			}
			fieldLine[field] = line
		})
	}
	var es Errors
	add := func(msg string) {
		e := &Error{Where: path}
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			e.Where, msg = path+":"+m[1], m[2]
			if n, err := strconv.Atoi(m[1]); err == nil {
				e.Field = lineField[n]
			}
		}
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			msg, e.Field = fmt.Sprintf("unknown field %q", m[1]), ""
		}
		if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("want %s, not %s", goKindName(m[3]), yamlKindName(m[1], m[2]))
		}
		e.Msg = strings.TrimPrefix(msg, "yaml: ")
		es = append(es, e)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(v); {
	case errors.Is(err, io.EOF):
		// An empty file: the defaults.
	case err != nil:
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				add(m)
			}
		} else {
			add(err.Error())
		}
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			msg := "a second YAML document; the file must hold one"
			if err != nil {
				msg = err.Error()
			}
			es = append(es, &Error{Where: path + ":" + strconv.Itoa(extra.Line), Msg: msg})
		}
	}
	if len(es) > 0 {
		return es
	}
	for field, line := range fieldLine {
		src.Set(field, path+":"+strconv.Itoa(line))
	}
	return nil
}

// goKindName says what a Go type the decoder wanted looks like in YAML.
func goKindName(t string) string {
	switch {
	case t == "time.Duration":
		return "a duration such as 30s or 12h"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return "a mapping"
}

// yamlKindName describes the YAML value found.
func yamlKindName(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	}
	if len(value) > 40 {
		value = value[:40] + "…"
	}
	return strconv.Quote(value)
}

// walk calls f with the path and line of every value under n.
func walk(n *yaml.Node, prefix string, f func(string, int)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			f(p, v.Line)
			walk(v, p, f)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			f(p, v.Line)
			walk(v, p, f)
		}
	}
}

// ResolvePaths makes the relative paths among ps relative to dir (the
// configuration file's directory); empty and absolute ones stay.
func ResolvePaths(dir string, ps ...*string) {
	for _, p := range ps {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Default sets *p to dir/name when *p is empty and dir is not.
func Default(p *string, dir, name string) {
	if *p == "" && dir != "" {
		*p = filepath.Join(dir, name)
	}
}
