package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/generate"
)

// testGeneration is the generation config of the seeded campaigns: "shop"
// after three of ten letters, in .com and .net — 2,000 names, capped at 1,800.
func testGeneration() api.GenerationConfig {
	return api.GenerationConfig{
		PatternType:    api.Prefix,
		ConstantString: ptr("shop"),
		CharacterSet:   "abcdefghij",
		VariableLength: 3,
		Tlds:           []string{".com", ".net"},
		MaxDomains:     1800,
	}
}

const testTotalDomains = 1800 // min(10^3 × 2, 1800)

// createCampaign creates a campaign through the API and returns it.
func (u *apiUser) createCampaign(ctx context.Context, t *testing.T, name string, gen api.GenerationConfig) api.Campaign {
	t.Helper()
	resp, err := u.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: name, Generation: gen})
	mustStatus(t, "create campaign "+name, resp, err, 201)
	if resp.JSON201 == nil {
		t.Fatalf("create campaign %s: no campaign in the answer: %s", name, resp.Body)
	}
	return *resp.JSON201
}

// outcome is how far a domain got through the phases, and how each ended.
type outcome int

const (
	oPending     outcome = iota // generated, nothing checked yet
	oDNSNXDomain                // DNS said NXDOMAIN: never fetched, not a lead
	oDNSTimeout                 // DNS timed out: never fetched, not a lead
	oDNSOK                      // resolves; HTTP not run yet
	oHTTPError                  // resolves; the fetch failed; analysed: no match
	oHTTPTimeout                // resolves; the fetch timed out; analysis not run yet
	oHTTPOK                     // resolves and answers; analysis not run yet
	oLeadMatch                  // answers with keywords: a lead
	oLeadNoMatch                // answers, scores below min_lead_score
	numOutcomes
)

// outcomeWeights make a varied campaign in which every outcome occurs.
var outcomeWeights = [numOutcomes]int{15, 14, 5, 10, 8, 5, 10, 15, 18}

// seeded is one domain row as written to the store, with what the API must
// show of it.
type seeded struct {
	D       domainflow.Domain
	Outcome outcome

	Status, DNSStatus, HTTPStatus, LeadStatus string
}

// stateIn returns the domain's state in a phase ("" for overall).
func (s seeded) stateIn(phase string) domainflow.State {
	switch phase {
	case "dns":
		return s.D.DNSState
	case "http":
		return s.D.HTTPState
	case "analysis":
		return s.D.LeadState
	}
	return s.D.State
}

// matches applies the brief's filter semantics: with a phase, generated =
// not yet checked in it, validated = passed it, failed = failed it (for
// analysis: match / no_match); without a phase, generated = every domain,
// validated = passed every phase run so far, failed = failed any. A phase
// without a status selects everything. q keeps names containing it, in any
// case.
func (s seeded) matches(status, phase, q string) bool {
	if q != "" && !strings.Contains(s.D.Name, strings.ToLower(q)) {
		return false
	}
	st := s.stateIn(phase)
	switch status {
	case "":
		return true
	case "generated":
		return phase == "" || st == domainflow.StatePending
	case "validated":
		return st == domainflow.StateValidated
	case "failed":
		return st == domainflow.StateFailed
	}
	panic("unknown status " + status)
}

// generatorFor makes the generator of a campaign's configuration as the API
// returned it, so that seeded names are the ones the engine would generate.
func generatorFor(t *testing.T, c api.Campaign) *generate.Generator {
	t.Helper()
	g := c.Config.Generation
	gen, err := generate.New(domainflow.GenerationConfig{
		PatternType: string(g.PatternType), ConstantString: deref(g.ConstantString), CharacterSet: g.CharacterSet,
		VariableLength: g.VariableLength, TLDs: g.Tlds, MaxDomains: g.MaxDomains,
	})
	if err != nil {
		t.Fatalf("generator for campaign %s: %v", c.Id, err)
	}
	return gen
}

// makeRows builds rows for offsets [from, to) of the campaign with outcomes
// drawn from rng, each consistent with how the phases work: a DNS failure
// skips HTTP and makes the domain no lead, an HTTP failure fails the domain,
// a lead has a score of at least min_lead_score (40) and a non-lead below it.
func makeRows(t *testing.T, c api.Campaign, from, to int64, rng *rand.Rand) []seeded {
	t.Helper()
	gen := generatorFor(t, c)
	total := 0
	for _, w := range outcomeWeights {
		total += w
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := make([]seeded, 0, to-from)
	for idx := from; idx < to; idx++ {
		r, o := rng.IntN(total), outcome(0)
		for r >= outcomeWeights[o] {
			r -= outcomeWeights[o]
			o++
		}
		name, tld := gen.Name(idx)
		at := base.Add(time.Duration(idx) * time.Millisecond)
		rows = append(rows, makeRow(c, idx, name, tld, at, o))
	}
	return rows
}

func makeRow(c api.Campaign, idx int64, name, tld string, at time.Time, o outcome) seeded {
	const (
		P = domainflow.StatePending
		V = domainflow.StateValidated
		F = domainflow.StateFailed
		S = domainflow.StateSkipped
	)
	checked := at.Add(time.Second)
	dnsOK := &domainflow.DNSResult{Status: "ok", Addresses: []string{fmt.Sprintf("192.0.2.%d", idx%250+1)},
		Resolver: "127.0.0.1:5353", LatencyMS: 1.25, Attempts: 1, CheckedAt: checked}
	httpOK := func(title string, keywords []string) *domainflow.HTTPResult {
		return &domainflow.HTTPResult{Status: "ok", URL: "http://" + name + "/", StatusCode: 200, Title: title,
			KeywordsFound: keywords, ContentLength: 5120, FinalURL: "http://" + name + "/", LatencyMS: 12.5, CheckedAt: checked}
	}
	d := domainflow.Domain{CampaignID: c.Id, OffsetIndex: idx, Name: name, TLD: tld, GeneratedAt: at}
	s := seeded{Outcome: o}
	set := func(overall, dns, http, lead domainflow.State, score int, status, dnsStatus, httpStatus, leadStatus string) {
		d.State, d.DNSState, d.HTTPState, d.LeadState, d.LeadScore = overall, dns, http, lead, score
		s.Status, s.DNSStatus, s.HTTPStatus, s.LeadStatus = status, dnsStatus, httpStatus, leadStatus
	}
	switch o {
	case oPending:
		set(P, P, P, P, 0, "generated", "pending", "pending", "pending")
	case oDNSNXDomain:
		d.DNSResult = &domainflow.DNSResult{Status: "error", Reason: "nxdomain", Resolver: "127.0.0.1:5353",
			LatencyMS: 0.8, Attempts: 1, Error: "NXDOMAIN", CheckedAt: checked}
		set(F, F, S, F, 0, "failed", "error", "skipped", "no_match")
	case oDNSTimeout:
		d.DNSResult = &domainflow.DNSResult{Status: "timeout", Reason: "timeout", LatencyMS: 2000, Attempts: 2,
			Error: "i/o timeout", CheckedAt: checked}
		set(F, F, S, F, 0, "failed", "timeout", "skipped", "no_match")
	case oDNSOK:
		d.DNSResult = dnsOK
		set(V, V, P, P, 0, "validated", "ok", "pending", "pending")
	case oHTTPError:
		d.DNSResult = dnsOK
		d.HTTPResult = &domainflow.HTTPResult{Status: "error", URL: "http://" + name + "/", Error: "connection refused",
			LatencyMS: 0.5, CheckedAt: checked}
		set(F, V, F, F, 0, "failed", "ok", "error", "no_match")
	case oHTTPTimeout:
		d.DNSResult = dnsOK
		d.HTTPResult = &domainflow.HTTPResult{Status: "timeout", URL: "http://" + name + "/", Error: "timeout",
			LatencyMS: 5000, CheckedAt: checked}
		set(F, V, F, P, 0, "failed", "ok", "timeout", "pending")
	case oHTTPOK:
		d.DNSResult = dnsOK
		d.HTTPResult = httpOK("Welcome", nil)
		set(V, V, V, P, 0, "validated", "ok", "ok", "pending")
	case oLeadMatch:
		d.DNSResult = dnsOK
		d.HTTPResult = httpOK("Widgets shop", []string{"widgets", "pricing"})
		set(V, V, V, V, 40+int(idx%61), "validated", "ok", "ok", "match")
	case oLeadNoMatch:
		d.DNSResult = dnsOK
		d.HTTPResult = httpOK("Parked", nil)
		set(F, V, V, F, int(idx%40), "failed", "ok", "ok", "no_match")
	}
	s.D = d
	return s
}

// insertRows writes rows through the store in a shuffled order (the API must
// order them itself) and checks that every one was new.
func (s *testServer) insertRows(ctx context.Context, t *testing.T, u *apiUser, c api.Campaign, rows []seeded, rng *rand.Rand) {
	t.Helper()
	ds := make([]domainflow.Domain, len(rows))
	for i := range rows {
		ds[i] = rows[i].D
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	n, _, err := s.DB(t).InsertDomains(ctx, u.ID, c.Id, ds)
	if err != nil {
		t.Fatalf("insert %d domains into campaign %s: %v", len(ds), c.Id, err)
	}
	if n != int64(len(ds)) {
		t.Fatalf("inserted %d of %d domains", n, len(ds))
	}
}

// seedCampaign creates a campaign through the API and seeds n domains with
// every outcome through the store.
func (s *testServer) seedCampaign(ctx context.Context, t *testing.T, u *apiUser, name string, n int64, seed uint64) (api.Campaign, []seeded) {
	t.Helper()
	c := u.createCampaign(ctx, t, name, testGeneration())
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rows := makeRows(t, c, 0, n, rng)
	if n >= 500 {
		var seen [numOutcomes]int
		for _, r := range rows {
			seen[r.Outcome]++
		}
		for o, k := range seen {
			if k == 0 {
				t.Fatalf("seed %d made no row of outcome %d; pick another seed", seed, o)
			}
		}
	}
	s.insertRows(ctx, t, u, c, rows, rng)
	return c, rows
}

// newRand returns a deterministic source of randomness for a test.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }
