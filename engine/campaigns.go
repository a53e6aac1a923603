package engine

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
)

// CreateCampaign checks a new campaign's whole configuration and stores it:
// a draft or, with AutoStart, queued at once. Bad input is an EINVALID error
// naming every field at fault; resolvers at addresses the outbound guard
// refuses, or proxies the user does not have, EUNPROCESSABLE; a campaign
// past a quota, that quota's error — and a refused campaign is not stored at
// all (an AutoStart past the running campaigns quota leaves no draft behind).
func (e *Engine) CreateCampaign(ctx context.Context, n domainflow.NewCampaign) (*domainflow.Campaign, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	total, err := generate.Total(n.Config.Generation)
	if err != nil {
		return nil, err
	}
	if err := e.cfg.Quotas.CheckCampaignDomains(total); err != nil {
		return nil, err
	}
	if err := e.checkResolvers(ctx, n.Config.DNS.Resolvers); err != nil {
		return nil, err
	}
	if err := e.checkProxies(ctx, n.UserID, n.Config.HTTP.ProxyIDs); err != nil {
		return nil, err
	}
	c := &domainflow.Campaign{
		UserID: n.UserID, Name: n.Name, Description: n.Description, Status: domainflow.StatusDraft,
		Config: n.Config, TotalDomains: total,
	}
	if n.AutoStart {
		_, c.Status = domainflow.Transition(domainflow.ActionStart)
	}
	if err := e.db.CreateCampaignWithin(ctx, c, e.cfg.Quotas); err != nil {
		return nil, err
	}
	if n.AutoStart {
		e.moved(ctx, c)
	}
	return c, nil
}

// resolveWithin bounds the lookups of the host names of a new campaign's
// resolvers (a name that does not resolve in time is judged when it is
// dialed).
const resolveWithin = 3 * time.Second

// checkResolvers fails with EUNPROCESSABLE, naming each entry, when some
// of the resolvers are, or resolve to, addresses the guard refuses. The
// guard judges them again each time they are dialed.
func (e *Engine) checkResolvers(ctx context.Context, resolvers []string) error {
	ctx, cancel := context.WithTimeout(ctx, resolveWithin)
	defer cancel()
	var fields []domainflow.FieldError
	for i, r := range resolvers {
		host, _, err := net.SplitHostPort(r)
		if err != nil {
			continue // Validate has said so
		}
		if err := e.guard.CheckHost(ctx, host); err != nil {
			fields = append(fields, domainflow.FieldError{Pointer: fmt.Sprintf("/dns/resolvers/%d", i), Detail: err.Error()})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &domainflow.Error{Code: domainflow.EUNPROCESSABLE, Fields: fields,
		Message: "Some DNS resolvers are at addresses this instance does not connect to (loopback, private, link-local and other special-purpose ranges, unless its operator opened them)."}
}

// checkProxies fails with EUNPROCESSABLE, naming each entry, when some of
// the ids are not proxies of the user.
func (e *Engine) checkProxies(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) error {
	missing, err := e.db.MissingProxies(ctx, userID, ids)
	if err != nil || len(missing) == 0 {
		return err
	}
	gone := make(map[uuid.UUID]bool, len(missing))
	for _, id := range missing {
		gone[id] = true
	}
	var fields []domainflow.FieldError
	for i, id := range ids {
		if gone[id] {
			fields = append(fields, domainflow.FieldError{Pointer: fmt.Sprintf("/http/proxy_ids/%d", i), Detail: fmt.Sprintf("no proxy %s", id)})
		}
	}
	return &domainflow.Error{Code: domainflow.EUNPROCESSABLE, Message: "Some proxies do not exist.", Fields: fields}
}

// Act applies a lifecycle call to the user's campaign and tells its clients;
// a start or a resume hands the campaign to the engine. A call the
// campaign's status does not allow is an ECONFLICT error.
//
// A start or a resume past the user's running campaigns or stored domains
// quota is refused (EQUOTARUNNING, EQUOTASTORED), not queued: the caller
// learns at once, and the campaign stays as it was.
func (e *Engine) Act(ctx context.Context, userID, id uuid.UUID, action domainflow.Action) (*domainflow.Campaign, error) {
	c, err := e.db.TransitionWithin(ctx, userID, id, action, e.cfg.Quotas)
	if err != nil {
		return nil, err
	}
	e.moved(ctx, c)
	return c, nil
}

// moved tells the clients of c's owner that a call moved it, and hands a
// queued campaign to the engine.
func (e *Engine) moved(ctx context.Context, c *domainflow.Campaign) {
	e.changed(c)
	if c.Status == domainflow.StatusQueued {
		if err := e.Enqueue(ctx, c); err != nil {
			// The campaign is queued: the sweep will pick it up.
			e.log.Warn("enqueue campaign", "campaign_id", c.ID, "err", err)
		}
	}
}

// DeleteCampaign deletes the user's campaign and its domains; a campaign
// still at work is cancelled first, so that its step stops writing.
func (e *Engine) DeleteCampaign(ctx context.Context, userID, id uuid.UUID) error {
	if _, err := e.db.TransitionWithin(ctx, userID, id, domainflow.ActionCancel, e.cfg.Quotas); err != nil &&
		domainflow.ErrorCode(err) != domainflow.ECONFLICT {
		return err
	}
	return e.db.DeleteCampaign(ctx, userID, id)
}
