package domainflow

// This file is the one home of the rules of a domain's state: what each
// phase's result makes of a domain, and how a campaign's tallies follow. The
// engine builds outcomes with them and the store counts with them, so the
// two can never disagree.

// States are where a domain stands overall and in each phase; each is one
// small indexed column of its row.
type States struct {
	Overall State // passed every phase run so far (validated) or failed one
	DNS     State
	HTTP    State
	Lead    State
}

// PendingDomain is a domain a phase still has to process, with what the
// phases before found.
type PendingDomain struct {
	OffsetIndex int64
	Name        string
	States      States
	DNSResult   *DNSResult // for HTTP: where the name resolved
	HTTPResult  *HTTPResult
}

// DomainOutcome is what a phase found for one domain: its states before and
// after, and the phase's result document.
type DomainOutcome struct {
	OffsetIndex int64
	From, To    States
	LeadScore   int
	Result      any // *DNSResult or *HTTPResult; nil for analysis
}

// DNSChecked is the outcome of the domain's DNS check. A name that does not
// resolve fails the campaign's remaining phases at once: it is never fetched
// (HTTP skipped) and is no lead.
func (d PendingDomain) DNSChecked(res DNSResult) DomainOutcome {
	o := DomainOutcome{OffsetIndex: d.OffsetIndex, From: d.States, To: d.States, Result: &res}
	if res.Status == CheckOK {
		o.To.Overall, o.To.DNS = StateValidated, StateValidated
	} else {
		o.To = States{Overall: StateFailed, DNS: StateFailed, HTTP: StateSkipped, Lead: StateFailed}
	}
	return o
}

// HTTPChecked is the outcome of the domain's fetch: any HTTP answer passes
// the phase (scoring judges it); no answer fails it.
func (d PendingDomain) HTTPChecked(res HTTPResult) DomainOutcome {
	o := DomainOutcome{OffsetIndex: d.OffsetIndex, From: d.States, To: d.States, Result: &res}
	if res.Status == CheckOK {
		o.To.Overall, o.To.HTTP = StateValidated, StateValidated
	} else {
		o.To.Overall, o.To.HTTP = StateFailed, StateFailed
	}
	return o
}

// Scored is the outcome of the analysis of a fetched domain that scored
// score: a lead when the fetch passed and the score reaches minScore.
func (d PendingDomain) Scored(score, minScore int) DomainOutcome {
	o := DomainOutcome{OffsetIndex: d.OffsetIndex, From: d.States, To: d.States, LeadScore: score}
	if d.States.HTTP == StateValidated && score >= minScore {
		o.To.Lead = StateValidated
	} else {
		o.To.Overall, o.To.Lead = StateFailed, StateFailed
	}
	return o
}

// Counts are a campaign's running tallies, kept in step with its domain rows
// by the store (in the same transaction) so that summaries and page totals
// never count rows.
type Counts struct {
	Generated int64

	Validated int64 // passed every phase run on it so far
	Failed    int64 // failed some phase

	DNSOK     int64
	DNSFailed int64

	HTTPOK      int64
	HTTPFailed  int64
	HTTPSkipped int64

	LeadMatch   int64
	LeadNoMatch int64
}

// Insert counts a new domain row in states s.
func (c *Counts) Insert(s States) {
	c.Generated++
	c.add(s, 1)
}

// Move counts a domain row that went from one set of states to another.
func (c *Counts) Move(from, to States) {
	c.add(from, -1)
	c.add(to, 1)
}

func (c *Counts) add(s States, by int64) {
	switch s.Overall {
	case StateValidated:
		c.Validated += by
	case StateFailed:
		c.Failed += by
	}
	switch s.DNS {
	case StateValidated:
		c.DNSOK += by
	case StateFailed:
		c.DNSFailed += by
	}
	switch s.HTTP {
	case StateValidated:
		c.HTTPOK += by
	case StateFailed:
		c.HTTPFailed += by
	case StateSkipped:
		c.HTTPSkipped += by
	}
	switch s.Lead {
	case StateValidated:
		c.LeadMatch += by
	case StateFailed:
		c.LeadNoMatch += by
	}
}

// Plus returns the sum of two tallies.
func (c Counts) Plus(d Counts) Counts {
	return Counts{
		Generated: c.Generated + d.Generated, Validated: c.Validated + d.Validated, Failed: c.Failed + d.Failed,
		DNSOK: c.DNSOK + d.DNSOK, DNSFailed: c.DNSFailed + d.DNSFailed,
		HTTPOK: c.HTTPOK + d.HTTPOK, HTTPFailed: c.HTTPFailed + d.HTTPFailed, HTTPSkipped: c.HTTPSkipped + d.HTTPSkipped,
		LeadMatch: c.LeadMatch + d.LeadMatch, LeadNoMatch: c.LeadNoMatch + d.LeadNoMatch,
	}
}

// PhaseTally is the generated/validated/failed split of one phase.
type PhaseTally struct {
	Pending, Validated, Failed, Skipped int64
}

// Overall returns the split over all phases: every domain counts as
// "generated" (Pending), as the filters have it without a phase.
func (c Counts) Overall() PhaseTally {
	return PhaseTally{Pending: c.Generated, Validated: c.Validated, Failed: c.Failed}
}

// DNS returns the DNS phase's tally.
func (c Counts) DNS() PhaseTally {
	return PhaseTally{Pending: c.Generated - c.DNSOK - c.DNSFailed, Validated: c.DNSOK, Failed: c.DNSFailed}
}

// HTTP returns the HTTP phase's tally.
func (c Counts) HTTP() PhaseTally {
	return PhaseTally{
		Pending:   c.Generated - c.HTTPOK - c.HTTPFailed - c.HTTPSkipped,
		Validated: c.HTTPOK, Failed: c.HTTPFailed, Skipped: c.HTTPSkipped,
	}
}

// Analysis returns the analysis phase's tally.
func (c Counts) Analysis() PhaseTally {
	return PhaseTally{Pending: c.Generated - c.LeadMatch - c.LeadNoMatch, Validated: c.LeadMatch, Failed: c.LeadNoMatch}
}

// Matching returns how many domains a filter without a search text selects.
func (c Counts) Matching(f DomainFilter) int64 {
	var t PhaseTally
	switch f.Phase {
	case "":
		t = c.Overall()
	case FilterPhaseDNS:
		t = c.DNS()
	case FilterPhaseHTTP:
		t = c.HTTP()
	case FilterPhaseAnalysis:
		t = c.Analysis()
	}
	switch f.Status {
	case FilterGenerated:
		return t.Pending
	case FilterValidated:
		return t.Validated
	case FilterFailed:
		return t.Failed
	}
	return c.Generated
}

// PendingIn reports whether phase still has to process a domain in states s:
// DNS takes what it has not checked; HTTP what passed DNS and is not
// fetched; analysis what was fetched (successfully or not) and not scored.
// The store selects pending work with the same rule, as SQL.
func (s States) PendingIn(phase Phase) bool {
	switch phase {
	case PhaseDNS:
		return s.DNS == StatePending
	case PhaseHTTP:
		return s.HTTP == StatePending && s.DNS == StateValidated
	case PhaseAnalysis:
		return s.Lead == StatePending && (s.HTTP == StateValidated || s.HTTP == StateFailed)
	}
	return false
}

// CampaignMove is what the engine records as it moves a campaign on.
type CampaignMove struct {
	Status       CampaignStatus // "" keeps the status
	CurrentPhase Phase          // "" keeps the phase
	Error        string
}
