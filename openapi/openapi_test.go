package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
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
	codes := append([]string{domainflow.EINVALID, domainflow.EUNPROCESSABLE, domainflow.EUNAUTHORIZED,
		domainflow.EFORBIDDEN, domainflow.ENOTFOUND, domainflow.ECONFLICT, domainflow.ERATELIMITED,
		domainflow.EUNAVAILABLE, domainflow.EINTERNAL}, domainflow.QuotaCodes...)
	for _, code := range codes {
		if !have[code] {
			t.Errorf("error code %q is not in the Problem.code enum", code)
		}
	}
}

// The bounds openapi.yaml declares on a campaign's settings (minimum and
// maximum of numbers, minItems and maxItems of lists) are exactly the ones
// the code enforces, so the two cannot drift: every bound in the spec is in
// the code's tables with the same value, and every entry of the tables is
// in the spec.
func TestBoundsMatchTheCode(t *testing.T) {
	doc := load(t)
	numbers, items := map[string]domainflow.Limit{}, map[string]domainflow.Limit{}
	var walk func(pointer string, s *openapi3.Schema)
	walk = func(pointer string, s *openapi3.Schema) {
		if s.Min != nil || s.Max != nil {
			var l domainflow.Limit
			if s.Min != nil {
				l.Min = int64(*s.Min)
			}
			if s.Max != nil {
				l.Max = int64(*s.Max)
			}
			numbers[pointer] = l
		}
		if s.Type.Is("array") {
			l := domainflow.Limit{Min: int64(s.MinItems)}
			if s.MaxItems != nil {
				l.Max = int64(*s.MaxItems)
			}
			items[pointer] = l
			walk(pointer+"/-", s.Items.Value)
		}
		for name, p := range s.Properties {
			walk(pointer+"/"+name, p.Value)
		}
	}
	config := doc.Components.Schemas["CampaignConfig"].Value
	for _, section := range []string{"generation", "dns", "http", "analysis"} {
		walk("/"+section, config.Properties[section].Value)
	}
	for name, pair := range map[string][2]map[string]domainflow.Limit{
		"minimum/maximum":   {numbers, domainflow.NumberLimits},
		"minItems/maxItems": {items, domainflow.ItemLimits},
	} {
		spec, code := pair[0], pair[1]
		for pointer, want := range spec {
			if got, ok := code[pointer]; !ok || got != want {
				t.Errorf("%s of %s: spec %v, code %v (enforced: %v)", name, pointer, want, got, ok)
			}
		}
		for pointer := range code {
			if _, ok := spec[pointer]; !ok {
				t.Errorf("%s of %s: enforced by the code, not declared in the spec", name, pointer)
			}
		}
	}
}

// Validate refuses each limit's first value outside it and accepts the
// limit itself, so the tables are what it enforces.
func TestValidateEnforcesTheLimits(t *testing.T) {
	valid := func() domainflow.CampaignConfig {
		c := domainflow.CampaignConfig{
			Generation: domainflow.GenerationConfig{PatternType: "prefix", CharacterSet: "ab", VariableLength: 2, TLDs: []string{".com"}, MaxDomains: 10},
			DNS:        domainflow.DefaultDNSConfig(), HTTP: domainflow.DefaultHTTPConfig(), Analysis: domainflow.DefaultAnalysisConfig(),
		}
		return c
	}
	set := map[string]func(c *domainflow.CampaignConfig, v int64){
		"/generation/variable_length": func(c *domainflow.CampaignConfig, v int64) { c.Generation.VariableLength = int(v) },
		"/generation/max_domains":     func(c *domainflow.CampaignConfig, v int64) { c.Generation.MaxDomains = v },
		"/dns/timeout_ms":             func(c *domainflow.CampaignConfig, v int64) { c.DNS.TimeoutMS = int(v) },
		"/dns/retries":                func(c *domainflow.CampaignConfig, v int64) { c.DNS.Retries, c.DNS.MaxAttempts = int(v), 20 },
		"/dns/max_attempts":           func(c *domainflow.CampaignConfig, v int64) { c.DNS.MaxAttempts, c.DNS.Retries = int(v), 0 },
		"/dns/concurrency":            func(c *domainflow.CampaignConfig, v int64) { c.DNS.Concurrency = int(v) },
		"/dns/rate_limit_qps":         func(c *domainflow.CampaignConfig, v int64) { c.DNS.RateLimitQPS = int(v) },
		"/http/ports/-":               func(c *domainflow.CampaignConfig, v int64) { c.HTTP.Ports = []int{int(v)} },
		"/http/timeout_ms":            func(c *domainflow.CampaignConfig, v int64) { c.HTTP.TimeoutMS = int(v) },
		"/http/concurrency":           func(c *domainflow.CampaignConfig, v int64) { c.HTTP.Concurrency = int(v) },
		"/http/max_redirects":         func(c *domainflow.CampaignConfig, v int64) { c.HTTP.MaxRedirects = int(v) },
		"/http/max_body_bytes":        func(c *domainflow.CampaignConfig, v int64) { c.HTTP.MaxBodyBytes = v },
		"/analysis/min_lead_score":    func(c *domainflow.CampaignConfig, v int64) { c.Analysis.MinLeadScore = int(v) },
	}
	for pointer, l := range domainflow.NumberLimits {
		f := set[pointer]
		if f == nil {
			t.Errorf("no case for %s", pointer)
			continue
		}
		field := strings.Replace(pointer, "/-", "/0", 1)
		for _, v := range []struct {
			n  int64
			ok bool
		}{{l.Min, true}, {l.Max, true}, {l.Min - 1, false}, {l.Max + 1, false}} {
			c := valid()
			f(&c, v.n)
			err := c.Validate()
			var e *domainflow.Error
			refused := errors.As(err, &e) && slices.ContainsFunc(e.Fields, func(f domainflow.FieldError) bool { return f.Pointer == field })
			if refused == v.ok {
				t.Errorf("%s = %d: Validate() = %v; want refused %v", pointer, v.n, err, !v.ok)
			}
		}
	}
}
