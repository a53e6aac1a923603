package domainflow_test

import (
	"testing"

	"github.com/domainflow/domainflow"
)

const (
	pending   = domainflow.StatePending
	validated = domainflow.StateValidated
	failed    = domainflow.StateFailed
	skipped   = domainflow.StateSkipped
)

// One table for the rules of a domain's state: each phase's outcome, what
// the next phase then takes, and how the tallies follow the rows.
func TestDomainStateRules(t *testing.T) {
	fresh := domainflow.States{}
	resolved := domainflow.States{Overall: validated, DNS: validated}
	fetched := domainflow.States{Overall: validated, DNS: validated, HTTP: validated}
	fetchFailed := domainflow.States{Overall: failed, DNS: validated, HTTP: failed}
	cases := []struct {
		name    string
		phase   domainflow.Phase
		from    domainflow.States
		outcome func(domainflow.PendingDomain) domainflow.DomainOutcome
		want    domainflow.States
		next    domainflow.Phase // the phase that takes the domain next; "" none
		delta   domainflow.Counts
	}{
		{"resolves", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckOK, Addresses: []string{"192.0.2.1"}, Attempts: 1}, 3)
			},
			resolved, domainflow.PhaseHTTP, domainflow.Counts{Validated: 1, DNSOK: 1}},
		{"nxdomain fails every later phase", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckError, Reason: "nxdomain", Attempts: 1}, 3)
			},
			domainflow.States{Overall: failed, DNS: failed, HTTP: skipped, Lead: failed}, "",
			domainflow.Counts{Failed: 1, DNSFailed: 1, HTTPSkipped: 1, LeadNoMatch: 1}},
		{"a timeout with tries left waits for the next pass", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckTimeout, Reason: "timeout", Attempts: 2}, 3)
			},
			fresh, domainflow.PhaseDNS, domainflow.Counts{}},
		{"so does SERVFAIL", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckError, Reason: "servfail", Attempts: 1}, 3)
			},
			fresh, domainflow.PhaseDNS, domainflow.Counts{}},
		{"the last try's timeout is the result", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckTimeout, Reason: "timeout", Attempts: 3}, 3)
			},
			domainflow.States{Overall: failed, DNS: failed, HTTP: skipped, Lead: failed}, "",
			domainflow.Counts{Failed: 1, DNSFailed: 1, HTTPSkipped: 1, LeadNoMatch: 1, DNSUnresolved: 1}},
		{"a wildcard answer is no find", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckError, Reason: "wildcard", WildcardZone: ".ws", Addresses: []string{"192.0.2.9"}, Attempts: 1}, 3)
			},
			domainflow.States{Overall: failed, DNS: failed, HTTP: skipped, Lead: failed}, "",
			domainflow.Counts{Failed: 1, DNSFailed: 1, HTTPSkipped: 1, LeadNoMatch: 1, DNSWildcard: 1}},
		{"found by its name servers only: registered, not fetched", domainflow.PhaseDNS, fresh,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckOK, NS: []string{"ns1.example."}, Attempts: 1}, 3)
			},
			domainflow.States{Overall: failed, DNS: validated, HTTP: skipped, Lead: failed}, "",
			domainflow.Counts{Failed: 1, DNSOK: 1, HTTPSkipped: 1, LeadNoMatch: 1}},
		{"fetched", domainflow.PhaseHTTP, resolved,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.HTTPChecked(domainflow.HTTPResult{Status: domainflow.CheckOK, StatusCode: 404})
			},
			fetched, domainflow.PhaseAnalysis, domainflow.Counts{HTTPOK: 1}},
		{"fetch failed: still scored", domainflow.PhaseHTTP, resolved,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				return d.HTTPChecked(domainflow.HTTPResult{Status: domainflow.CheckTimeout})
			},
			fetchFailed, domainflow.PhaseAnalysis, domainflow.Counts{Validated: -1, Failed: 1, HTTPFailed: 1}},
		{"a lead", domainflow.PhaseAnalysis, fetched,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Widgets"}
				return d.Scored(withKeywords())
			},
			domainflow.States{Overall: validated, DNS: validated, HTTP: validated, Lead: validated}, "",
			domainflow.Counts{LeadMatch: 1}},
		{"a keyword match", domainflow.PhaseAnalysis, fetched,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Widgets", KeywordsFound: []string{"widgets"}}
				return d.Scored(withKeywords("widgets", "pricing"))
			},
			domainflow.States{Overall: validated, DNS: validated, HTTP: validated, Lead: validated}, "",
			domainflow.Counts{LeadMatch: 1}},
		{"no keyword found is no lead, whatever the score", domainflow.PhaseAnalysis, fetched,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Widgets"}
				return d.Scored(withKeywords("widgets", "pricing"))
			},
			domainflow.States{Overall: failed, DNS: validated, HTTP: validated, Lead: failed}, "",
			domainflow.Counts{Validated: -1, Failed: 1, LeadNoMatch: 1}},
		{"below the minimum", domainflow.PhaseAnalysis, fetched,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200}
				return d.Scored(withKeywords())
			},
			domainflow.States{Overall: failed, DNS: validated, HTTP: validated, Lead: failed}, "",
			domainflow.Counts{Validated: -1, Failed: 1, LeadNoMatch: 1}},
		{"a failed fetch is never a lead", domainflow.PhaseAnalysis, fetchFailed,
			func(d domainflow.PendingDomain) domainflow.DomainOutcome {
				d.HTTPResult = &domainflow.HTTPResult{Status: "timeout"}
				cfg := withKeywords()
				cfg.Analysis.MinLeadScore = 0
				return d.Scored(cfg)
			},
			domainflow.States{Overall: failed, DNS: validated, HTTP: failed, Lead: failed}, "",
			domainflow.Counts{LeadNoMatch: 1}},
	}
	phases := []domainflow.Phase{domainflow.PhaseDNS, domainflow.PhaseHTTP, domainflow.PhaseAnalysis}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.from.PendingIn(c.phase) {
				t.Fatalf("%+v is not pending in %s", c.from, c.phase)
			}
			d := domainflow.PendingDomain{OffsetIndex: 7, States: c.from}
			o := c.outcome(d)
			if o.OffsetIndex != 7 || o.From != c.from || o.To != c.want {
				t.Fatalf("outcome %+v; want from %+v to %+v", o, c.from, c.want)
			}
			for _, p := range phases {
				if got := o.To.PendingIn(p); got != (p == c.next) {
					t.Errorf("after %s, pending in %s = %v; next should be %q", c.phase, p, got, c.next)
				}
			}
			var delta domainflow.Counts
			delta.Record(o)
			if delta != c.delta {
				t.Errorf("tally delta %+v; want %+v", delta, c.delta)
			}
		})
	}
}

// Tallies built row by row agree with the views the API shows: every
// domain is pending, validated, failed (or, for HTTP, skipped) in each
// phase, whatever path it took.
func TestCountsViews(t *testing.T) {
	var c domainflow.Counts
	paths := [][]func(domainflow.PendingDomain) domainflow.DomainOutcome{
		{}, // generated only
		{dnsOK},
		{dnsFail},
		{dnsOK, httpOK},
		{dnsOK, httpFail},
		{dnsOK, httpOK, func(d domainflow.PendingDomain) domainflow.DomainOutcome {
			d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "Shop"}
			return d.Scored(withKeywords())
		}},
		{dnsOK, httpOK, func(d domainflow.PendingDomain) domainflow.DomainOutcome {
			d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 500}
			return d.Scored(withKeywords())
		}},
		{dnsOK, httpFail, func(d domainflow.PendingDomain) domainflow.DomainOutcome { return d.Scored(withKeywords()) }},
	}
	for _, path := range paths {
		d := domainflow.PendingDomain{}
		c.Insert(d.States)
		for _, step := range path {
			o := step(d)
			c.Record(o)
			d.States = o.To
			if r, ok := o.Result.(*domainflow.HTTPResult); ok {
				d.HTTPResult = r
			}
		}
	}
	want := map[string][4]int64{ // pending, validated, failed, skipped
		"overall":  {8, 3, 4, 0},
		"dns":      {1, 6, 1, 0},
		"http":     {2, 3, 2, 1},
		"analysis": {4, 1, 3, 0},
	}
	for name, tally := range map[string]domainflow.PhaseTally{"overall": c.Overall(), "dns": c.DNS(), "http": c.HTTP(), "analysis": c.Analysis()} {
		if got := [4]int64{tally.Pending, tally.Validated, tally.Failed, tally.Skipped}; got != want[name] {
			t.Errorf("%s = %v; want %v (counts %+v)", name, got, want[name], c)
		}
	}
	if c.Overall().Validated+c.Overall().Failed != 7 {
		t.Errorf("every domain checked by DNS is validated or failed overall: %+v", c)
	}
}

func withKeywords(keywords ...string) domainflow.CampaignConfig {
	return domainflow.CampaignConfig{HTTP: domainflow.HTTPConfig{Keywords: keywords}, Analysis: domainflow.AnalysisConfig{MinLeadScore: 40}}
}

func dnsOK(d domainflow.PendingDomain) domainflow.DomainOutcome {
	return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckOK, Addresses: []string{"192.0.2.1"}, Attempts: 1}, 3)
}

func dnsFail(d domainflow.PendingDomain) domainflow.DomainOutcome {
	return d.DNSChecked(domainflow.DNSResult{Status: domainflow.CheckError, Reason: "nxdomain", Attempts: 1}, 3)
}

func httpOK(d domainflow.PendingDomain) domainflow.DomainOutcome {
	return d.HTTPChecked(domainflow.HTTPResult{Status: domainflow.CheckOK, StatusCode: 200})
}

func httpFail(d domainflow.PendingDomain) domainflow.DomainOutcome {
	return d.HTTPChecked(domainflow.HTTPResult{Status: domainflow.CheckError})
}
