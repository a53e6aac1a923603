package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
)

// This file is the engine's side of the DNS phase: the checks made before
// it (are the resolvers alive, which zones answer every name), the
// resolvers' figures, and what a name's check comes to.

// resolver opens the step's DNS resolver, starting from the resolver states
// earlier steps left, and makes the checks before the phase once.
//
// A resolver at an address the outbound guard refuses fails the campaign
// at once, naming it, at every step (a host name is resolved anew each
// time): it would never be asked anything, and a campaign that names it
// was not meant to run without it.
func (r *run) resolver(ctx context.Context) error {
	c := r.c
	var demoted []string
	for _, s := range c.Resolvers {
		if s.State == domainflow.ResolverDemoted {
			demoted = append(demoted, s.Address)
		}
	}
	res, err := dnscheck.New(c.Config.DNS, dnscheck.WithLogger(r.e.log), dnscheck.WithDemoted(demoted),
		dnscheck.WithStateChange(r.e.resolverChanged(c.UserID, c.ID, c.Name)), dnscheck.WithGuard(r.e.guard))
	if err != nil {
		return permanent{err}
	}
	if blocked := res.Blocked(); len(blocked) > 0 {
		res.Close()
		named := make([]string, len(blocked))
		for i, b := range blocked {
			named[i] = fmt.Sprintf("%s (%s)", b.Address, b.Reason)
		}
		return permanent{fmt.Errorf("the campaign's DNS resolvers include addresses this instance does not connect to: %s", strings.Join(named, "; "))}
	}
	r.dns = res
	r.resolverStats = append([]domainflow.ResolverStats(nil), c.Resolvers...)
	if c.Wildcards == nil {
		return r.preflight(ctx)
	}
	return nil
}

// preflight probes each resolver (a campaign whose resolvers are all dead
// fails at once, naming them) and looks for wildcard zones among the
// zones the campaign's names fall in; it records both on the campaign.
func (r *run) preflight(ctx context.Context) error {
	c := r.c
	zones := domainflow.Zones(c.Config.Generation.TLDs)
	live := r.dns.Alive(ctx, zones[0])
	if err := ctx.Err(); err != nil {
		return err // shutting down: nothing is known about the resolvers
	}
	var dead []string
	alive := 0
	for _, l := range live {
		if l.Alive {
			alive++
			continue
		}
		dead = append(dead, fmt.Sprintf("%s (%s)", l.Address, l.Reason))
	}
	for _, l := range live {
		if !l.Alive && r.dns.Demote(l.Address) && alive > 0 {
			r.e.emit(domainflow.NotificationEvent(c.UserID, &c.ID, domainflow.LevelWarning, fmt.Sprintf(
				"Campaign %q: resolver %s does not answer (%s); it is left out of rotation and tried again now and then.", c.Name, l.Address, l.Reason)))
		}
	}
	if alive == 0 {
		// The figures say what each resolver did; the error says it all.
		if err := r.e.db.SaveResolvers(ctx, c.UserID, c.ID, r.takeResolverStats()); err != nil {
			return err
		}
		return permanent{fmt.Errorf("none of the campaign's DNS resolvers answers: %s", strings.Join(dead, "; "))}
	}
	wildcards := r.dns.Wildcards(ctx, zones, c.Config.DNS.Concurrency)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.e.db.SetWildcards(ctx, c.UserID, c.ID, wildcards, r.takeResolverStats()); err != nil {
		return err
	}
	now, err := r.e.db.GetCampaign(ctx, c.UserID, c.ID)
	if err != nil {
		return err
	}
	r.c = now
	return nil
}

// resolverChanged tells a campaign's owner that one of its resolvers left
// or rejoined the rotation. It runs on a check's goroutine.
func (e *Engine) resolverChanged(userID, id uuid.UUID, name string) func(addr string, demoted bool, reason string) {
	return func(addr string, demoted bool, reason string) {
		msg := fmt.Sprintf("Campaign %q: resolver %s answers again and is back in rotation.", name, addr)
		level := domainflow.LevelInfo
		if demoted {
			level = domainflow.LevelWarning
			msg = fmt.Sprintf("Campaign %q: resolver %s keeps failing (last: %s); it is left out of rotation and tried again now and then.", name, addr, reason)
		}
		e.emit(domainflow.NotificationEvent(userID, &id, level, msg))
	}
}

// statsEvery is how often a step writes its resolver figures with a batch.
const statsEvery = time.Second

// saveResolverStats writes the figures the step's last batches added, at
// its end.
func (r *run) saveResolverStats(ctx context.Context) error {
	if r.dns == nil || ctx.Err() != nil {
		return nil
	}
	return r.e.db.SaveResolvers(ctx, r.c.UserID, r.c.ID, r.takeResolverStats())
}

// takeResolverStats adds what the resolvers answered since the last call
// to the campaign's figures and returns them all.
func (r *run) takeResolverStats() []domainflow.ResolverStats {
	for _, s := range r.dns.TakeStats() {
		i := 0
		for i < len(r.resolverStats) && r.resolverStats[i].Address != s.Address {
			i++
		}
		if i == len(r.resolverStats) {
			r.resolverStats = append(r.resolverStats, domainflow.ResolverStats{Address: s.Address})
		}
		r.resolverStats[i].Add(s)
	}
	return append([]domainflow.ResolverStats(nil), r.resolverStats...)
}

// checkDNS is a name's DNS check: its next try (after the ones an earlier
// pass made), a wildcard zone's answer marked as such, and what that makes
// of the domain.
func (r *run) checkDNS(ctx context.Context, w *domainflow.PendingDomain, c *domainflow.Campaign) domainflow.DomainOutcome {
	res := r.dns.CheckAgain(ctx, w.Name, w.DNSResult)
	if zone, ok := domainflow.WildcardOf(c.Wildcards, w.Name, res); ok {
		res = res.AsWildcard(zone)
	}
	return w.DNSChecked(res, c.Config.DNS.MaxAttempts)
}
