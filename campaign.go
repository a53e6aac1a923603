package domainflow

import (
	"time"

	"github.com/google/uuid"
)

// CampaignStatus is where a campaign is in its lifecycle.
type CampaignStatus string

const (
	StatusDraft     CampaignStatus = "draft"
	StatusQueued    CampaignStatus = "queued"
	StatusRunning   CampaignStatus = "running"
	StatusPaused    CampaignStatus = "paused"
	StatusCompleted CampaignStatus = "completed"
	StatusFailed    CampaignStatus = "failed"
	StatusCancelled CampaignStatus = "cancelled"
)

// Ended reports whether the status is final.
func (s CampaignStatus) Ended() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Phase is one step of a campaign. Phases run in the order declared here.
type Phase string

const (
	PhaseGeneration Phase = "generation"
	PhaseDNS        Phase = "dns"
	PhaseHTTP       Phase = "http"
	PhaseAnalysis   Phase = "analysis"
)

// Campaign is one run of generation and validation, owned by one user.
type Campaign struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	Name         string
	Description  string
	Status       CampaignStatus
	CurrentPhase Phase // "" before the campaign starts
	Config       CampaignConfig
	TotalDomains int64 // max_domains capped by the size of the pattern
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    *time.Time
	CompletedAt  *time.Time

	// Version increases with every change to the campaign or its domains; it
	// is what ETags are made of.
	Version int64
	Counts  Counts
}

// Counts are a campaign's running tallies, kept in step with its domain rows
// by the store so that summaries and page totals never count rows.
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

// Progress returns the units of work done and known: each domain is one unit
// of generation, DNS, HTTP and analysis (a skipped fetch counts as done).
func (c *Campaign) Progress() (processed, total int64, percent float64) {
	total = 4 * c.TotalDomains
	processed = c.Counts.Generated + c.Counts.DNSOK + c.Counts.DNSFailed +
		c.Counts.HTTPOK + c.Counts.HTTPFailed + c.Counts.HTTPSkipped +
		c.Counts.LeadMatch + c.Counts.LeadNoMatch
	switch {
	case c.Status == StatusCompleted:
		percent = 100
	case total > 0:
		percent = float64(processed) * 100 / float64(total)
		if percent > 100 {
			percent = 100
		}
	}
	return processed, total, percent
}
