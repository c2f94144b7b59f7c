package server

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes holds the OpenAPI document and the route
// registry to each other: every registered route is described (with a
// summary) and served in the document, and every description is of a
// registered route.
func TestOpenAPICoversRoutes(t *testing.T) {
	ts := startServer(t, nil)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	ts.do(t, cred{}, "GET", "/api/openapi.json", nil).want(t, 200).json(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	registered := map[string]bool{}
	for _, rt := range ts.Routes() {
		registered[rt.Pattern()] = true
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is registered but not in the document", rt.Pattern())
			continue
		}
		if s, _ := op["summary"].(string); s == "" {
			t.Errorf("%s has no summary", rt.Pattern())
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s has no responses", rt.Pattern())
		}
	}
	served := 0
	for path, item := range doc.Paths {
		for method := range item {
			served++
			if p := strings.ToUpper(method) + " " + path; !registered[p] {
				t.Errorf("the document describes %s, which is not registered", p)
			}
		}
	}
	if served != len(registered) {
		t.Errorf("document has %d operations, registry %d routes", served, len(registered))
	}
	for _, p := range slices.Sorted(maps.Keys(docs)) {
		if !registered[p] {
			t.Errorf("docs describes %s, which is not registered", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(deskDocs)) {
		if !registered[p] {
			t.Errorf("deskDocs describes %s, which is not registered", p)
		}
		if _, dup := docs[p]; dup {
			t.Errorf("%s is described twice", p)
		}
	}
	// Every schema a description names exists.
	all := allSchemas()
	var check func(v any)
	check = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, ok := all[strings.TrimPrefix(r, "#/components/schemas/")]; !ok {
					t.Errorf("schema %s is named but not defined", r)
				}
			}
			for _, x := range v {
				check(x)
			}
		case []any:
			for _, x := range v {
				check(x)
			}
		}
	}
	for _, op := range deskDocs {
		check(op.Request)
		check(op.Response)
	}
	for _, sc := range all {
		check(sc)
	}
}
