package server

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow/openapi"
)

var pathParameter = regexp.MustCompile(`\{(\w+)\}`)

// Every operation of the contract is served, and nothing undocumented under
// /api/v1 is.
func TestEveryOperationIsRouted(t *testing.T) {
	h, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, r := range h.(*echo.Echo).Routes() {
		routed[r.Method+" "+r.Path] = true
	}
	// The document as written: the embedded one leaves out the operations
	// that are served by hand.
	swagger, err := openapi3.NewLoader().LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range swagger.Paths.Map() {
		echoPath := pathParameter.ReplaceAllString(path, ":$1")
		for method := range item.Operations() {
			key := method + " " + echoPath
			documented[key] = true
			if !routed[key] {
				t.Errorf("%s is in openapi.yaml but not routed", key)
			}
		}
	}
	for key := range routed {
		if strings.Contains(key, " /api/v1/") && !documented[key] {
			t.Errorf("%s is routed but not in openapi.yaml", key)
		}
	}
}
