package openapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

// The WebSocket's events are described once, in openapi.yaml; the Go types
// of the root package must send exactly what it describes, no field more or
// less, so that the generated TypeScript types are the truth for clients.
func TestEventsMatchTheSpec(t *testing.T) {
	doc := load(t)
	schemas := doc.Components.Schemas

	var specTypes []domainflow.EventType
	for _, v := range schemas["RealtimeEventType"].Value.Enum {
		specTypes = append(specTypes, domainflow.EventType(v.(string)))
	}
	if !slices.Equal(specTypes, domainflow.EventTypes()) {
		t.Fatalf("RealtimeEventType is %v in the spec, %v in the code", specTypes, domainflow.EventTypes())
	}
	mapping := schemas["RealtimeEvent"].Value.Discriminator.Mapping
	for _, typ := range domainflow.EventTypes() {
		if _, ok := mapping[string(typ)]; !ok {
			t.Errorf("RealtimeEvent's discriminator has no %s", typ)
		}
	}

	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ended := started.Add(90 * time.Second)
	running := &domainflow.Campaign{ID: uuid.New(), UserID: uuid.New(), Status: domainflow.StatusRunning,
		CurrentPhase: domainflow.PhaseDNS, TotalDomains: 10, Version: 7, StartedAt: &started,
		Counts: domainflow.Counts{Generated: 10, DNSOK: 3, DNSFailed: 2, Validated: 3, Failed: 2, HTTPSkipped: 2, LeadNoMatch: 2}}
	draft := &domainflow.Campaign{ID: uuid.New(), UserID: uuid.New(), Status: domainflow.StatusDraft, TotalDomains: 10, Version: 1}
	failed := *running
	failed.Status, failed.CompletedAt, failed.Error = domainflow.StatusFailed, &ended, "resolver gone"
	latency := 12.5
	healthy := &domainflow.Proxy{ID: uuid.New(), UserID: uuid.New(), Health: domainflow.HealthHealthy, LatencyMS: &latency, LastCheckedAt: &ended}
	unknown := &domainflow.Proxy{ID: uuid.New(), UserID: uuid.New(), Health: domainflow.HealthUnknown}

	cases := []struct {
		name string
		ev   domainflow.Event
	}{
		{"progress, running", domainflow.ProgressEvent(running)},
		{"progress, draft", domainflow.ProgressEvent(draft)},
		{"domains changed", domainflow.DomainsChangedEvent(running)},
		{"phase transition, start", domainflow.PhaseTransitionEvent(running, "", domainflow.PhaseGeneration)},
		{"phase transition", domainflow.PhaseTransitionEvent(running, domainflow.PhaseGeneration, domainflow.PhaseDNS)},
		{"completed, failed", domainflow.CompletedEvent(&failed)},
		{"completed, never started", domainflow.CompletedEvent(draft)},
		{"error", domainflow.FailedEvent(&failed, "resolver gone")},
		{"error, before any phase", domainflow.FailedEvent(draft, "bad config")},
		{"notification", domainflow.NotificationEvent(running.UserID, &running.ID, domainflow.LevelWarning, "resolver demoted")},
		{"proxy status, healthy", domainflow.ProxyStatusEvent(healthy)},
		{"proxy status, unchecked", domainflow.ProxyStatusEvent(unknown)},
		{"proxy list", domainflow.ProxyListEvent(healthy.UserID, domainflow.ProxyDeleted, healthy.ID)},
	}
	seen := map[domainflow.EventType]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen[c.ev.Type] = true
			ref := mapping[string(c.ev.Type)]
			event := schemas[strings.TrimPrefix(ref.Ref, "#/components/schemas/")].Value
			data := event.AllOf[1].Value.Properties["data"]
			raw, err := json.Marshal(c.ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			if err := data.Value.VisitJSON(v); err != nil {
				t.Errorf("%s data %s does not match %s: %v", c.ev.Type, raw, data.Ref, err)
			}
			for _, extra := range undeclared(data.Value, v, "") {
				t.Errorf("%s data has %s, which the spec does not declare", c.ev.Type, extra)
			}
		})
	}
	for _, typ := range domainflow.EventTypes() {
		if !seen[typ] {
			t.Errorf("no case sends %s", typ)
		}
	}
}

// undeclared returns the JSON paths of v's object keys that schema s does
// not declare (looking through allOf).
func undeclared(s *openapi3.Schema, v any, at string) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	props := map[string]*openapi3.Schema{}
	for name, p := range s.Properties {
		props[name] = p.Value
	}
	for _, part := range s.AllOf {
		for name, p := range part.Value.Properties {
			props[name] = p.Value
		}
	}
	var out []string
	for k, sub := range obj {
		p, ok := props[k]
		if !ok {
			out = append(out, at+"/"+k)
			continue
		}
		out = append(out, undeclared(p, sub, at+"/"+k)...)
	}
	return out
}
