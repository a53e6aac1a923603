package domainflow

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Audit actions: what a user did. Each names its resource type first.
const (
	AuditTokenCreated      = "token.created"
	AuditTokenRevoked      = "token.revoked"
	AuditCampaignCreated   = "campaign.created"
	AuditCampaignStarted   = "campaign.started"
	AuditCampaignPaused    = "campaign.paused"
	AuditCampaignResumed   = "campaign.resumed"
	AuditCampaignCancelled = "campaign.cancelled"
	AuditCampaignDeleted   = "campaign.deleted"
	AuditProxyCreated      = "proxy.created"
	AuditProxyUpdated      = "proxy.updated"
	AuditProxyDeleted      = "proxy.deleted"
)

// Audited resource types.
const (
	ResourceToken    = "token"
	ResourceCampaign = "campaign"
	ResourceProxy    = "proxy"
)

// AuditRetention is how long audit events are kept.
const AuditRetention = 90 * 24 * time.Hour

// AuditAction is the audit action of a lifecycle call.
func AuditAction(a Action) string {
	switch a {
	case ActionStart:
		return AuditCampaignStarted
	case ActionPause:
		return AuditCampaignPaused
	case ActionResume:
		return AuditCampaignResumed
	case ActionCancel:
		return AuditCampaignCancelled
	}
	return "campaign." + string(a)
}

// AuditEvent is one entry of the audit trail: who did what to which
// resource, when, and from where.
type AuditEvent struct {
	ID       int64
	At       time.Time
	UserID   uuid.UUID
	UserName string
	// Address is the client's IP address as the server saw it (see
	// --trusted-proxies), or AddressCLI.
	Address      string
	Action       string
	ResourceType string
	ResourceID   string
	// Detail is a small JSON object about the change (a name, the fields
	// changed); never a secret.
	Detail map[string]any
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	UserID   uuid.UUID // uuid.Nil: every user's
	UserName string    // "": every user's
	Since    time.Time // zero: every event kept
	Before   int64     // only events with a smaller id (a cursor); 0: from the newest
	Limit    int
}

// AuditPage is a page of audit events and whether older ones follow.
type AuditPage struct {
	Items   []AuditEvent
	HasMore bool
}

// AddressCLI is the address of changes made with the domainflow command.
const AddressCLI = "cli"

// Actor is who makes the changes of a request or command, and from where:
// the store records each audited change it writes under the actor of its
// context (see WithActor). Work nobody asked for at that moment (the
// engine's steps, health checks) carries no actor and is not audited.
type Actor struct {
	UserID  uuid.UUID
	Address string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
