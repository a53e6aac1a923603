package openapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/openapi"
)

func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	return doc
}

func TestSpecIsValid(t *testing.T) {
	if err := load(t).Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
}

// The defaults the service fills in must be the ones the contract promises.
func TestDefaultsMatchTheCode(t *testing.T) {
	doc := load(t)
	cases := []struct {
		schema string
		code   any
	}{
		{"DNSConfig", domainflow.DefaultDNSConfig()},
		{"HTTPConfig", domainflow.DefaultHTTPConfig()},
		{"AnalysisConfig", domainflow.DefaultAnalysisConfig()},
	}
	for _, c := range cases {
		t.Run(c.schema, func(t *testing.T) {
			raw, _ := json.Marshal(c.code)
			var code map[string]any
			json.Unmarshal(raw, &code)
			props := doc.Components.Schemas[c.schema].Value.Properties
			for name, prop := range props {
				if prop.Value.Default == nil {
					continue
				}
				want, _ := json.Marshal(prop.Value.Default)
				got, _ := json.Marshal(code[name])
				if string(want) != string(got) {
					t.Errorf("%s.%s: spec default %s, code default %s", c.schema, name, want, got)
				}
			}
			for name := range code {
				if props[name] == nil {
					t.Errorf("%s.%s is in the code but not in the spec", c.schema, name)
				}
			}
		})
	}
}

// Every error a handler can produce must be a documented problem code.
func TestProblemCodesMatchTheCode(t *testing.T) {
	enum := load(t).Components.Schemas["Problem"].Value.Properties["code"].Value.Enum
	have := map[string]bool{}
	for _, v := range enum {
		have[v.(string)] = true
	}
	for _, code := range []string{domainflow.EINVALID, domainflow.EUNPROCESSABLE, domainflow.EUNAUTHORIZED,
		domainflow.EFORBIDDEN, domainflow.ENOTFOUND, domainflow.ECONFLICT, domainflow.ERATELIMITED,
		domainflow.EUNAVAILABLE, domainflow.EINTERNAL} {
		if !have[code] {
			t.Errorf("error code %q is not in the Problem.code enum", code)
		}
	}
}
