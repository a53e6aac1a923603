package domainflow

import (
	"time"

	"github.com/google/uuid"
)

// EventType names what an Event is about. The set is closed: these are the
// only events clients ever receive (domain data is served by REST only), and
// openapi.yaml describes each one's payload under components/schemas
// (RealtimeEventType, RealtimeEvent and the *Data schemas).
type EventType string

const (
	EventCampaignProgress   EventType = "campaign_progress"   // CampaignProgressData; coalesced per campaign
	EventPhaseTransition    EventType = "phase_transition"    // PhaseTransitionData
	EventCampaignCompleted  EventType = "campaign_completed"  // CampaignCompletedData
	EventError              EventType = "error"               // ErrorEventData
	EventSystemNotification EventType = "system_notification" // SystemNotificationData; uuid.Nil user = everyone
	EventProxyStatus        EventType = "proxy_status"        // ProxyStatusData
	EventProxyListUpdate    EventType = "proxy_list_update"   // ProxyListUpdateData
	EventDomainsChanged     EventType = "domains_changed"     // DomainsChangedData; coalesced per campaign: "poll now"
)

// EventTypes lists every event type, in the order openapi.yaml declares them.
func EventTypes() []EventType {
	return []EventType{EventCampaignProgress, EventPhaseTransition, EventCampaignCompleted, EventError,
		EventSystemNotification, EventProxyStatus, EventProxyListUpdate, EventDomainsChanged}
}

// Known reports whether t is one of the event types clients receive.
func (t EventType) Known() bool {
	switch t {
	case EventCampaignProgress, EventPhaseTransition, EventCampaignCompleted, EventError,
		EventSystemNotification, EventProxyStatus, EventProxyListUpdate, EventDomainsChanged:
		return true
	}
	return false
}

// Coalesced reports whether only the latest event of the type per campaign
// matters, so the hub keeps the latest and sends it at most a few times a
// second.
func (t EventType) Coalesced() bool {
	return t == EventCampaignProgress || t == EventDomainsChanged
}

// Event is something that happened to a campaign or a proxy, addressed to
// the user who owns it: the engine and the API make them, the realtime hub
// delivers them to that user's connections.
type Event struct {
	Type EventType
	// UserID owns the campaign or proxy the event is about. uuid.Nil is
	// allowed only for a system_notification, which then goes to everyone.
	UserID uuid.UUID
	// CampaignID is the campaign the event is about; nil for proxy events
	// and system notifications.
	CampaignID *uuid.UUID
	// Time is when it happened; zero means when it is published.
	Time time.Time
	// Data is the type's payload: one of the *Data types below (or, once it
	// has travelled between instances, its JSON).
	Data any
}

// CampaignProgressData is the payload of campaign_progress: the same numbers
// as the REST status summary, flattened so a progress bar needs no nesting.
type CampaignProgressData struct {
	Status       CampaignStatus `json:"status"`
	CurrentPhase *Phase         `json:"current_phase"` // null before the campaign starts
	Processed    int64          `json:"processed"`     // units of work done, all phases
	Total        int64          `json:"total"`         // units of work known, all phases
	Percent      float64        `json:"percent"`
	TotalDomains int64          `json:"total_domains"`
	Generated    int64          `json:"generated"`
	Overall      PhaseCounts    `json:"overall"`
	DNS          PhaseCounts    `json:"dns"`
	HTTP         PhaseCounts    `json:"http"`
	Analysis     PhaseCounts    `json:"analysis"`
	Leads        int64          `json:"leads"`
	// StalledSince is set while the campaign waits to be taken over from
	// an instance that died.
	StalledSince *time.Time `json:"stalled_since,omitempty"`
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
	Skipped   *int64 `json:"skipped,omitempty"`  // http only
	Wildcard  *int64 `json:"wildcard,omitempty"` // dns only
}

// PhaseTransitionData is the payload of phase_transition.
type PhaseTransitionData struct {
	From    *Phase `json:"from"` // null when the campaign starts
	To      Phase  `json:"to"`
	Version int64  `json:"version"`
}

// CampaignCompletedData is the payload of campaign_completed.
type CampaignCompletedData struct {
	Status          CampaignStatus       `json:"status"`
	Totals          CampaignProgressData `json:"totals"`
	Version         int64                `json:"version"`
	DurationSeconds *float64             `json:"duration_seconds,omitempty"`
	Error           string               `json:"error,omitempty"`
}

// ErrorEventData is the payload of error.
type ErrorEventData struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Phase     Phase  `json:"phase,omitempty"`
	Retryable bool   `json:"retryable"`
}

// Notification levels of system_notification.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// SystemNotificationData is the payload of system_notification.
type SystemNotificationData struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// ProxyStatusData is the payload of proxy_status.
type ProxyStatusData struct {
	ProxyID       uuid.UUID  `json:"proxy_id"`
	Health        string     `json:"health"`
	LatencyMS     *float64   `json:"latency_ms"`
	LastError     string     `json:"last_error"`
	LastCheckedAt *time.Time `json:"last_checked_at"`
}

// Actions of proxy_list_update.
const (
	ProxyCreated = "created"
	ProxyUpdated = "updated"
	ProxyDeleted = "deleted"
)

// ProxyListUpdateData is the payload of proxy_list_update.
type ProxyListUpdateData struct {
	Action  string    `json:"action"`
	ProxyID uuid.UUID `json:"proxy_id"`
}

// DomainsChangedData is the payload of domains_changed.
type DomainsChangedData struct {
	Version   int64 `json:"version"` // the campaign version the new data reflects
	Generated int64 `json:"generated"`
}

// ErrCodeCampaignFailed is the code of the error event of a campaign that
// failed.
const ErrCodeCampaignFailed = "campaign_failed"

func campaignEvent(t EventType, c *Campaign, data any) Event {
	id := c.ID
	return Event{Type: t, UserID: c.UserID, CampaignID: &id, Data: data}
}

// ProgressEvent is the campaign_progress event of c's current state.
func ProgressEvent(c *Campaign) Event {
	return campaignEvent(EventCampaignProgress, c, ProgressData(c))
}

// DomainsChangedEvent is the hint that c's domains changed, as of its
// version.
func DomainsChangedEvent(c *Campaign) Event {
	return campaignEvent(EventDomainsChanged, c, DomainsChangedData{Version: c.Version, Generated: c.Counts.Generated})
}

// PhaseTransitionEvent is c's move from one phase to the next (from "" when
// it starts); c is the campaign as it is after the move.
func PhaseTransitionEvent(c *Campaign, from, to Phase) Event {
	data := PhaseTransitionData{To: to, Version: c.Version}
	if from != "" {
		data.From = &from
	}
	return campaignEvent(EventPhaseTransition, c, data)
}

// CompletedEvent is the campaign_completed event of a campaign that ended.
func CompletedEvent(c *Campaign) Event {
	data := CampaignCompletedData{Status: c.Status, Totals: ProgressData(c), Version: c.Version, Error: c.Error}
	if c.StartedAt != nil && c.CompletedAt != nil {
		d := c.CompletedAt.Sub(*c.StartedAt).Seconds()
		data.DurationSeconds = &d
	}
	return campaignEvent(EventCampaignCompleted, c, data)
}

// FailedEvent is the error event of a campaign that failed with message.
func FailedEvent(c *Campaign, message string) Event {
	return campaignEvent(EventError, c, ErrorEventData{Code: ErrCodeCampaignFailed, Message: message, Phase: c.CurrentPhase})
}

// NotificationEvent is a system_notification for the user (uuid.Nil:
// everyone), about a campaign when campaignID is not nil.
func NotificationEvent(userID uuid.UUID, campaignID *uuid.UUID, level, message string) Event {
	return Event{Type: EventSystemNotification, UserID: userID, CampaignID: campaignID,
		Data: SystemNotificationData{Level: level, Message: message}}
}

// ProxyStatusEvent is the proxy_status event of p's health as it now is.
func ProxyStatusEvent(p *Proxy) Event {
	return Event{Type: EventProxyStatus, UserID: p.UserID, Data: ProxyStatusData{
		ProxyID: p.ID, Health: p.Health, LatencyMS: p.LatencyMS, LastError: p.LastError, LastCheckedAt: p.LastCheckedAt}}
}

// ProxyListEvent is the proxy_list_update event of a proxy of the user that
// was created, updated or deleted.
func ProxyListEvent(userID uuid.UUID, action string, proxyID uuid.UUID) Event {
	return Event{Type: EventProxyListUpdate, UserID: userID, Data: ProxyListUpdateData{Action: action, ProxyID: proxyID}}
}

// ProgressData is the payload of c's campaign_progress event.
func ProgressData(c *Campaign) CampaignProgressData {
	processed, total, percent := c.Progress()
	p := CampaignProgressData{
		Status:       c.Status,
		Processed:    processed,
		Total:        total,
		Percent:      percent,
		TotalDomains: c.TotalDomains,
		Generated:    c.Counts.Generated,
		Overall:      c.Counts.Overall().Counts(),
		DNS:          c.Counts.DNS().Counts(),
		HTTP:         c.Counts.HTTP().Counts(),
		Analysis:     c.Counts.Analysis().Counts(),
		Leads:        c.Counts.LeadMatch,
		StalledSince: c.StalledSince,
		Version:      c.Version,
	}
	if c.CurrentPhase != "" {
		phase := c.CurrentPhase
		p.CurrentPhase = &phase
	}
	return p
}
