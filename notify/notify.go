// Package notify turns what the engine and the API do into the realtime
// hub's events: the one place that knows each event's payload.
package notify

import (
	"log/slog"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/engine"
	"github.com/domainflow/domainflow/realtime"
)

// Events publishes to a hub. It is the engine's Events hook (Engine) and the
// API's server.Notifier.
type Events struct {
	hub *realtime.Hub
	log *slog.Logger
}

// New returns Events publishing to hub; failures to publish are logged.
func New(hub *realtime.Hub, log *slog.Logger) Events { return Events{hub: hub, log: log} }

func (e Events) publish(ev realtime.Event) {
	if err := e.hub.Publish(ev); err != nil {
		e.log.Warn("publish event", "type", ev.Type, "err", err)
	}
}

// progress publishes a campaign's state, the hint that its domains changed,
// and its end when it has ended.
func (e Events) progress(c *domainflow.Campaign) {
	e.publish(realtime.ProgressEvent(c))
	e.publish(realtime.Event{Type: realtime.TypeDomainsChanged, UserID: c.UserID, CampaignID: &c.ID,
		Data: map[string]any{"version": c.Version, "generated": c.Counts.Generated}})
}

func (e Events) completed(c *domainflow.Campaign) {
	data := map[string]any{"status": c.Status, "totals": realtime.ProgressData(c), "version": c.Version}
	if c.StartedAt != nil && c.CompletedAt != nil {
		data["duration_seconds"] = c.CompletedAt.Sub(*c.StartedAt).Seconds()
	}
	if c.Error != "" {
		data["error"] = c.Error
	}
	e.publish(realtime.Event{Type: realtime.TypeCampaignCompleted, UserID: c.UserID, CampaignID: &c.ID, Data: data})
}

// Engine is the engine's Events hook.
func (e Events) Engine(ev engine.Event) {
	switch ev.Type {
	case engine.EventProgress:
		e.progress(ev.Campaign)
	case engine.EventPhaseTransition:
		data := map[string]any{"from": nil, "to": ev.To, "version": ev.Campaign.Version}
		if ev.From != "" {
			data["from"] = ev.From
		}
		e.publish(realtime.Event{Type: realtime.TypePhaseTransition, UserID: ev.UserID, CampaignID: &ev.Campaign.ID, Data: data})
	case engine.EventCompleted:
		e.progress(ev.Campaign)
		e.completed(ev.Campaign)
	case engine.EventError:
		e.publish(realtime.Event{Type: realtime.TypeError, UserID: ev.UserID, CampaignID: &ev.Campaign.ID,
			Data: map[string]any{"code": "campaign_failed", "message": ev.Message, "phase": ev.Campaign.CurrentPhase, "retryable": false}})
	case engine.EventProxyStatus:
		e.ProxyHealthChanged(ev.Proxy)
	}
}

// CampaignChanged is called by the API after a lifecycle call.
func (e Events) CampaignChanged(c *domainflow.Campaign) {
	e.progress(c)
	if c.Status.Ended() {
		e.completed(c)
	}
}

func (e Events) ProxyListChanged(userID uuid.UUID, action string, p *domainflow.Proxy) {
	e.publish(realtime.Event{Type: realtime.TypeProxyListUpdate, UserID: userID,
		Data: map[string]any{"action": action, "proxy_id": p.ID}})
}

func (e Events) ProxyHealthChanged(p *domainflow.Proxy) {
	e.publish(realtime.Event{Type: realtime.TypeProxyStatus, UserID: p.UserID, Data: map[string]any{
		"proxy_id": p.ID, "health": p.Health, "latency_ms": p.LatencyMS, "last_error": p.LastError, "last_checked_at": p.LastCheckedAt}})
}
