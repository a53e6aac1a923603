package realtime

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

// Event types a client may receive. Nothing else is ever sent: domain data is
// served by REST only, so the old per-domain events (domain_generated,
// dns.validation.result, http.validation.result) and dashboard_activity are
// refused by Publish.
const (
	TypeCampaignProgress   = "campaign_progress"   // coalesced per campaign; data is Progress
	TypePhaseTransition    = "phase_transition"    // a campaign moves to its next phase
	TypeCampaignCompleted  = "campaign_completed"  // completed, failed or cancelled
	TypeError              = "error"               // code, message, phase, retryable
	TypeSystemNotification = "system_notification" // level, message; uuid.Nil user = everyone
	TypeProxyStatus        = "proxy_status"        // a proxy's health changed
	TypeProxyListUpdate    = "proxy_list_update"   // a proxy was created, updated or deleted
	TypeDomainsChanged     = "domains_changed"     // coalesced per campaign; "poll now"
)

// allowed is the set of types Publish accepts. It is read-only after init.
var allowed = map[string]bool{
	TypeCampaignProgress:   true,
	TypePhaseTransition:    true,
	TypeCampaignCompleted:  true,
	TypeError:              true,
	TypeSystemNotification: true,
	TypeProxyStatus:        true,
	TypeProxyListUpdate:    true,
	TypeDomainsChanged:     true,
}

// coalesced reports whether only the latest event of the type per campaign
// matters, so the hub keeps the latest and sends it at most once per
// CoalesceInterval.
func coalesced(typ string) bool {
	return typ == TypeCampaignProgress || typ == TypeDomainsChanged
}

// Event is what the rest of the service publishes. It is addressed to one
// user: only that user's connections receive it.
type Event struct {
	Type string
	// UserID owns the campaign or proxy the event is about. uuid.Nil is
	// allowed only for system_notification, which then goes to everyone.
	UserID uuid.UUID
	// CampaignID is the campaign the event is about, nil for proxy events and
	// system notifications. Required for the coalesced types.
	CampaignID *uuid.UUID
	// Data is marshalled to JSON once, by Publish; nil is sent as {}.
	Data any
	// Time is when it happened; zero means when Publish is called. It is the
	// "time" of the envelope, so it survives the hop between instances.
	Time time.Time
}

// ProgressEvent returns the campaign_progress event of c's current state.
func ProgressEvent(c *domainflow.Campaign) Event {
	id := c.ID
	return Event{Type: TypeCampaignProgress, UserID: c.UserID, CampaignID: &id, Data: ProgressData(c)}
}

// Progress is the data of a campaign_progress event: the same numbers as the
// REST status summary, flattened so a progress bar needs no nesting.
type Progress struct {
	Status       domainflow.CampaignStatus `json:"status"`
	CurrentPhase *domainflow.Phase         `json:"current_phase"` // null before the campaign starts
	Processed    int64                     `json:"processed"`     // units of work done, all phases
	Total        int64                     `json:"total"`         // units of work known, all phases
	Percent      float64                   `json:"percent"`
	TotalDomains int64                     `json:"total_domains"`
	Generated    int64                     `json:"generated"`
	Overall      PhaseCounts               `json:"overall"`
	DNS          PhaseCounts               `json:"dns"`
	HTTP         PhaseCounts               `json:"http"`
	Analysis     PhaseCounts               `json:"analysis"`
	Leads        int64                     `json:"leads"`
	// Version is the campaign's change version (the one its ETags are made
	// of): a later state has a higher one.
	Version int64 `json:"version"`
}

// PhaseCounts is the split of one phase, named as in the REST API:
// "generated" are the domains not yet checked in the phase.
type PhaseCounts struct {
	Generated int64  `json:"generated"`
	Validated int64  `json:"validated"`
	Failed    int64  `json:"failed"`
	Skipped   *int64 `json:"skipped,omitempty"` // http only
}

func phaseCounts(t domainflow.PhaseTally, withSkipped bool) PhaseCounts {
	out := PhaseCounts{Generated: t.Pending, Validated: t.Validated, Failed: t.Failed}
	if withSkipped {
		skipped := t.Skipped
		out.Skipped = &skipped
	}
	return out
}

// ProgressData returns the payload of c's campaign_progress event.
func ProgressData(c *domainflow.Campaign) Progress {
	processed, total, percent := c.Progress()
	p := Progress{
		Status:       c.Status,
		Processed:    processed,
		Total:        total,
		Percent:      percent,
		TotalDomains: c.TotalDomains,
		Generated:    c.Counts.Generated,
		Overall:      phaseCounts(c.Counts.Overall(), false),
		DNS:          phaseCounts(c.Counts.DNS(), false),
		HTTP:         phaseCounts(c.Counts.HTTP(), true),
		Analysis:     phaseCounts(c.Counts.Analysis(), false),
		Leads:        c.Counts.LeadMatch,
		Version:      c.Version,
	}
	if c.CurrentPhase != "" {
		phase := c.CurrentPhase
		p.CurrentPhase = &phase
	}
	return p
}

// marshalData turns an event's data into JSON once, so every connection
// shares the bytes and the caller may reuse its value after Publish.
func marshalData(v any) (json.RawMessage, error) {
	switch d := v.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		if len(d) == 0 {
			return json.RawMessage("{}"), nil
		}
		if !json.Valid(d) {
			return nil, errors.New("invalid JSON")
		}
		return d, nil
	}
	return json.Marshal(v)
}

// wireEvent is an Event as it travels between instances.
type wireEvent struct {
	Type       string          `json:"type"`
	UserID     uuid.UUID       `json:"user_id"`
	CampaignID *uuid.UUID      `json:"campaign_id,omitempty"`
	Time       time.Time       `json:"time"`
	Data       json.RawMessage `json:"data"`
}

func encodeEvent(ev Event) ([]byte, error) {
	data, err := marshalData(ev.Data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireEvent{Type: ev.Type, UserID: ev.UserID, CampaignID: ev.CampaignID, Time: ev.Time, Data: data})
}

func decodeEvent(b []byte) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return Event{}, err
	}
	return Event{Type: w.Type, UserID: w.UserID, CampaignID: w.CampaignID, Time: w.Time, Data: w.Data}, nil
}
