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
