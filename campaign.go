package domainflow

import (
	"fmt"
	"strings"
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
	// StalledSince is set while the instance working the campaign has
	// stopped answering and no other instance has taken it over yet.
	StalledSince *time.Time

	// Version increases with every change to the campaign or its domains; it
	// is what ETags are made of.
	Version int64
	Counts  Counts

	// Wildcards are the zones found to answer every name; nil until they
	// were looked for, before the DNS phase.
	Wildcards []WildcardZone
	// Resolvers are the campaign's DNS resolvers and what they answered.
	Resolvers []ResolverStats
	// Warnings are what a completed campaign wants its owner to know.
	Warnings []Warning
}

// CampaignPage is one page of a user's campaigns, read at one moment with
// how many there are and the list's state.
type CampaignPage struct {
	Items []*Campaign
	Total int64
	// State changes whenever the list does, on any page: what the list's
	// ETag is made of.
	State string
}

// Warning is something a campaign's owner should know about how it ran.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Warning codes.
const (
	WarningDNSUnresolved = "dns_unresolved" // most names got no definite answer
)

// EndWarnings are the warnings of a campaign that completed with its
// counts: a run on a broken link must not look like a clean one.
func (c *Campaign) EndWarnings() []Warning {
	var out []Warning
	if n := c.Counts.DNSUnresolved; n > 0 && 2*n > c.Counts.Generated {
		out = append(out, Warning{Code: WarningDNSUnresolved, Message: fmt.Sprintf(
			"%d of %d names got no definite answer after %d tries each (timeouts, SERVFAIL, REFUSED, network errors): "+
				"the resolvers or the link to them may be failing, and these names are not known to be unregistered.",
			n, c.Counts.Generated, c.Config.DNS.MaxAttempts)})
	}
	return out
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

// NewCampaign is what a user asks for when creating a campaign.
type NewCampaign struct {
	UserID      uuid.UUID
	Name        string
	Description string
	Config      CampaignConfig
	AutoStart   bool
}

// Validate checks the name and the whole configuration, and returns an
// EINVALID *Error naming every bad field by its JSON Pointer in the create
// body.
func (n *NewCampaign) Validate() error {
	var errs fieldErrors
	if strings.TrimSpace(n.Name) == "" {
		errs.add("/name", "must not be blank")
	}
	n.Config.check(&errs)
	if len(errs) > 0 {
		return Invalid("The campaign is not valid.", errs...)
	}
	return nil
}
