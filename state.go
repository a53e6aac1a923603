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
	Result      any // *DNSResult, *HTTPResult or *LeadResult
}

// DNSChecked is the outcome of a DNS check of the domain that made
// res.Attempts tries in all, of at most maxAttempts. A transient failure
// (no reply, SERVFAIL, REFUSED, a network error) with tries left is no
// result yet: the domain stays pending for a later pass, keeping the try in
// its result. Otherwise a name that does not resolve fails the campaign's
// remaining phases at once: it is never fetched (HTTP skipped) and is no
// lead; nor is a name found only by its name servers or mail exchangers
// (registered, but with no address to fetch).
func (d PendingDomain) DNSChecked(res DNSResult, maxAttempts int) DomainOutcome {
	o := DomainOutcome{OffsetIndex: d.OffsetIndex, From: d.States, To: d.States, Result: &res}
	switch {
	case res.Transient() && res.Attempts < maxAttempts:
	case res.Found() && len(res.Addresses) > 0:
		o.To.Overall, o.To.DNS = StateValidated, StateValidated
	case res.Found():
		o.To = States{Overall: StateFailed, DNS: StateValidated, HTTP: StateSkipped, Lead: StateFailed}
	default:
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

// Scored is the outcome of the analysis of a fetched domain: its score
// (with the reasons), and whether it is a lead — the fetch passed, the
// score reaches min_lead_score and, when the campaign has keywords, at
// least one was found. The score still ranks leads.
func (d PendingDomain) Scored(cfg CampaignConfig) DomainOutcome {
	o := DomainOutcome{OffsetIndex: d.OffsetIndex, From: d.States, To: d.States, Result: &LeadResult{}}
	matched := len(cfg.HTTP.Keywords) == 0
	if d.HTTPResult != nil {
		lead := o.Result.(*LeadResult)
		o.LeadScore, lead.Breakdown = ScoreParts(*d.HTTPResult, len(cfg.HTTP.Keywords))
		matched = matched || len(d.HTTPResult.KeywordsFound) > 0
	}
	if d.States.HTTP == StateValidated && o.LeadScore >= cfg.Analysis.MinLeadScore && matched {
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

	// Of DNSFailed: the answers of wildcard zones, and the names that got
	// no definite answer after every try.
	DNSWildcard   int64
	DNSUnresolved int64
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

// Record counts a written outcome: its move, and why a DNS failure failed.
func (c *Counts) Record(o DomainOutcome) {
	c.Move(o.From, o.To)
	if res, ok := o.Result.(*DNSResult); ok && o.From.DNS == StatePending && o.To.DNS == StateFailed {
		switch {
		case res.Reason == ReasonWildcard:
			c.DNSWildcard++
		case res.Transient():
			c.DNSUnresolved++
		}
	}
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

// PhaseTally is the generated/validated/failed split of one phase, with
// the failures the phase counts apart: skipped fetches (HTTP) and wildcard
// answers (DNS).
type PhaseTally struct {
	Pending, Validated, Failed, Skipped, Wildcard int64

	phase Phase // "" overall
}

// Counts is the tally as the API names it: "generated" are the domains not
// yet checked in the phase, and each phase has only the splits it has.
func (t PhaseTally) Counts() PhaseCounts {
	out := PhaseCounts{Generated: t.Pending, Validated: t.Validated, Failed: t.Failed}
	switch t.phase {
	case PhaseHTTP:
		skipped := t.Skipped
		out.Skipped = &skipped
	case PhaseDNS:
		wildcard := t.Wildcard
		out.Wildcard = &wildcard
	}
	return out
}

// Overall returns the split over all phases: every domain counts as
// "generated" (Pending), as the filters have it without a phase.
func (c Counts) Overall() PhaseTally {
	return PhaseTally{Pending: c.Generated, Validated: c.Validated, Failed: c.Failed}
}

// DNS returns the DNS phase's tally.
func (c Counts) DNS() PhaseTally {
	return PhaseTally{Pending: c.Generated - c.DNSOK - c.DNSFailed, Validated: c.DNSOK, Failed: c.DNSFailed,
		Wildcard: c.DNSWildcard, phase: PhaseDNS}
}

// HTTP returns the HTTP phase's tally.
func (c Counts) HTTP() PhaseTally {
	return PhaseTally{
		Pending:   c.Generated - c.HTTPOK - c.HTTPFailed - c.HTTPSkipped,
		Validated: c.HTTPOK, Failed: c.HTTPFailed, Skipped: c.HTTPSkipped, phase: PhaseHTTP,
	}
}

// Analysis returns the analysis phase's tally.
func (c Counts) Analysis() PhaseTally {
	return PhaseTally{Pending: c.Generated - c.LeadMatch - c.LeadNoMatch, Validated: c.LeadMatch, Failed: c.LeadNoMatch, phase: PhaseAnalysis}
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
	Warnings     []Warning // nil keeps them
}
