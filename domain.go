package domainflow

import (
	"time"

	"github.com/google/uuid"
)

// State is where a domain stands in one phase, or overall. It is what the
// domain list filters on, so the store keeps one small indexed column of it
// per phase.
type State int16

const (
	StatePending   State = 0 // not yet checked ("generated" in filters)
	StateValidated State = 1
	StateFailed    State = 2
	StateSkipped   State = 3 // never checked: an earlier phase failed
)

// DNS and HTTP result statuses.
const (
	CheckPending = "pending"
	CheckOK      = "ok"
	CheckError   = "error"
	CheckTimeout = "timeout"
	CheckSkipped = "skipped" // HTTP only
)

// Lead statuses.
const (
	LeadPending = "pending"
	LeadMatch   = "match"
	LeadNoMatch = "no_match"
)

// Domain is one generated name and what each phase found about it.
type Domain struct {
	CampaignID  uuid.UUID
	OffsetIndex int64
	Name        string
	TLD         string
	GeneratedAt time.Time

	State     State // overall
	DNSState  State
	HTTPState State
	LeadState State
	LeadScore int

	DNSResult  *DNSResult
	HTTPResult *HTTPResult
	LeadResult *LeadResult
}

// DNSStatus is the DNS status shown to clients: pending until the DNS phase
// is done with the name (a name waiting for its next pass has the last
// try's result, but no status yet).
func (d *Domain) DNSStatus() string {
	if d.DNSResult == nil || d.DNSState == StatePending {
		return CheckPending
	}
	return d.DNSResult.Status
}

// HTTPStatus is the HTTP status shown to clients.
func (d *Domain) HTTPStatus() string {
	switch {
	case d.HTTPResult != nil:
		return d.HTTPResult.Status
	case d.HTTPState == StateSkipped:
		return CheckSkipped
	}
	return CheckPending
}

// LeadStatus is the lead status shown to clients.
func (d *Domain) LeadStatus() string {
	switch d.LeadState {
	case StateValidated:
		return LeadMatch
	case StateFailed:
		return LeadNoMatch
	}
	return LeadPending
}

// Reasons a DNSResult gives for a failure (openapi.yaml, schema DNSResult).
const (
	ReasonNXDomain = "nxdomain"
	ReasonServFail = "servfail"
	ReasonRefused  = "refused"
	ReasonNoAnswer = "no_answer"
	ReasonTimeout  = "timeout"
	ReasonNetwork  = "network"
	ReasonWildcard = "wildcard" // the answer of a zone that answers every name
	ReasonOther    = "other"
	// ReasonBlocked is a destination the outbound guard refuses (package
	// netguard): a DNSResult's resolver, an HTTPResult's page or redirect.
	// Nothing was sent there; it is never retried.
	ReasonBlocked = "blocked"
)

// DNSResult is what DNS validation found for one domain (or, while the
// domain waits for its next pass, its last try).
type DNSResult struct {
	Status       string     `json:"status"`
	Reason       string     `json:"reason,omitempty"`
	Addresses    []string   `json:"addresses,omitempty"`
	CNAMEs       []string   `json:"cnames,omitempty"`
	NS           []string   `json:"ns,omitempty"`
	MX           []MXRecord `json:"mx,omitempty"`
	WildcardZone string     `json:"wildcard_zone,omitempty"`
	Resolver     string     `json:"resolver,omitempty"`
	LatencyMS    float64    `json:"latency_ms"`
	Attempts     int        `json:"attempts,omitempty"` // over every pass
	Error        string     `json:"error,omitempty"`
	CheckedAt    time.Time  `json:"checked_at"`
}

// MXRecord is one mail exchanger of a domain.
type MXRecord struct {
	Preference uint16 `json:"preference"`
	Host       string `json:"host"`
}

// Transient reports whether the result says nothing about the name, only
// about the resolver or the link (no reply, SERVFAIL, REFUSED, a network
// error): the name is worth trying again.
func (r DNSResult) Transient() bool {
	switch r.Reason {
	case ReasonTimeout, ReasonServFail, ReasonRefused, ReasonNetwork:
		return r.Status != CheckOK
	}
	return r.Status == CheckTimeout
}

// Found reports whether the name is registered: it has addresses, or name
// servers or mail exchangers (a domain parked without a web address).
func (r DNSResult) Found() bool {
	return r.Status == CheckOK && (len(r.Addresses) > 0 || len(r.NS) > 0 || len(r.MX) > 0)
}

// HTTPResult is what HTTP validation found for one domain.
type HTTPResult struct {
	Status        string     `json:"status"`
	URL           string     `json:"url,omitempty"`
	StatusCode    int        `json:"status_code,omitempty"`
	Title         string     `json:"title,omitempty"`
	KeywordsFound []string   `json:"keywords_found,omitempty"`
	ContentLength int64      `json:"content_length"`      // bytes of body read, decompressed
	Truncated     bool       `json:"truncated,omitempty"` // the body went on past them
	FinalURL      string     `json:"final_url,omitempty"`
	LatencyMS     float64    `json:"latency_ms"`
	ProxyID       *uuid.UUID `json:"proxy_id,omitempty"`
	Reason        string     `json:"reason,omitempty"` // "" or ReasonBlocked (Status CheckError)
	Error         string     `json:"error,omitempty"`
	CheckedAt     time.Time  `json:"checked_at"`
}

// Filter vocabulary of the domain list.
const (
	FilterGenerated = "generated"
	FilterValidated = "validated"
	FilterFailed    = "failed"

	FilterPhaseDNS      = "dns"
	FilterPhaseHTTP     = "http"
	FilterPhaseAnalysis = "analysis"
)

// DomainFilter selects domains of a campaign. Zero values select everything.
type DomainFilter struct {
	Status string // generated | validated | failed
	Phase  string // dns | http | analysis
	Q      string // substring of the name
}

// StateWanted returns the phase whose state a filter selects on ("" for the
// overall state) and the state it wants, or ok=false when the filter selects
// every domain.
func (f DomainFilter) StateWanted() (phase Phase, state State, ok bool) {
	if f.Status == "" || (f.Status == FilterGenerated && f.Phase == "") {
		return "", 0, false
	}
	switch f.Status {
	case FilterGenerated:
		state = StatePending
	case FilterValidated:
		state = StateValidated
	case FilterFailed:
		state = StateFailed
	}
	return Phase(f.Phase), state, true
}

// PageRequest is one page of the domain list: by offset, or after a keyset
// position (After >= 0 when paging by cursor).
type PageRequest struct {
	Limit  int
	Offset int64
	After  int64 // offset_index of the last row seen; -1 for offset paging
}

// DomainPage is one page of a campaign's domains, read at one moment with
// the campaign: Campaign's version and tallies are those of the rows.
type DomainPage struct {
	Campaign *Campaign
	Items    []Domain
	HasMore  bool
	Total    int64
}
