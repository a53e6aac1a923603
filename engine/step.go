package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/httpcheck"
)

// generateBatch is how many names one generation batch writes.
const generateBatch = 10_000

// step works the campaign for up to StepTime and reports whether it has more
// to do. A campaign that is not queued or running (paused, cancelled,
// deleted) ends its job: resuming enqueues it again.
func (e *Engine) step(ctx context.Context, userID, id uuid.UUID) (more bool, err error) {
	defer func() {
		if errors.Is(err, domainflow.ErrStopped) {
			// A write found the campaign stopped: nothing of it was
			// written, and the call that stopped it told the clients.
			more, err = false, nil
		}
	}()
	c, err := e.db.GetCampaign(ctx, userID, id)
	if domainflow.ErrorCode(err) == domainflow.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	switch c.Status {
	case domainflow.StatusQueued:
		phase := c.CurrentPhase
		if phase == "" {
			phase = domainflow.PhaseGeneration
		}
		if moved, err := e.db.Advance(ctx, userID, id, []domainflow.CampaignStatus{domainflow.StatusQueued},
			domainflow.CampaignMove{Status: domainflow.StatusRunning, CurrentPhase: phase}); err != nil || !moved {
			return false, err
		}
		first := c.CurrentPhase == ""
		if c, err = e.db.GetCampaign(ctx, userID, id); err != nil {
			return false, err
		}
		if first {
			e.emit(domainflow.PhaseTransitionEvent(c, "", phase))
		}
	case domainflow.StatusRunning:
		if c.StalledSince != nil {
			// Taken over from an instance that died.
			now, err := e.db.SetStalled(ctx, userID, id, false)
			if err != nil {
				return false, err
			}
			if now != nil {
				c = now
				e.emit(domainflow.ProgressEvent(c))
			}
		}
	default:
		return false, nil
	}

	r := &run{e: e, c: c, deadline: time.Now().Add(e.cfg.StepTime)}
	defer r.close()
	defer func() {
		// Every way out waits for the batch being checked and the last
		// write: a step ends with its work in the database. A campaign that
		// stopped meanwhile (paused, cancelled, deleted) has the checks of
		// its last batch dropped: its rows stay pending.
		keep := err == nil && r.c.Status == domainflow.StatusRunning
		if serr := r.settle(ctx, keep); err == nil && serr != nil {
			more, err = false, serr
		}
		if ferr := r.flush(); err == nil && ferr != nil {
			more, err = false, ferr
		}
		if serr := r.saveResolverStats(ctx); err == nil && serr != nil {
			more, err = false, serr
		}
	}()
	for first := true; time.Now().Before(r.deadline); first = false {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if d, ok := ctx.Deadline(); ok && !first && time.Until(d) < longestCheck(r.c) {
			return true, nil // not enough of the job's time left for a check: go on in the next step
		}
		done, err := r.batch(ctx)
		if err != nil {
			return false, err
		}
		if c, err = e.db.GetCampaign(ctx, userID, id); domainflow.ErrorCode(err) == domainflow.ENOTFOUND {
			return false, nil
		} else if err != nil {
			return false, err
		}
		r.c = c
		if c.Status == domainflow.StatusQueued {
			// Paused and resumed while this step ran: the resume could not
			// enqueue a second job, so this one carries on.
			return true, nil
		}
		if done || c.Status != domainflow.StatusRunning {
			return false, nil // the completion, or the call that stopped it, told the clients
		}
	}
	return true, nil
}

// run is one step's working state: the checkers it built, reused across its
// batches and closed at its end.
type run struct {
	e        *Engine
	c        *domainflow.Campaign
	deadline time.Time // no new check starts after it
	// after is the last offset_index this step took in afterPhase: the next
	// batch starts past it.
	after      int64
	afterPhase domainflow.Phase
	// writing is the result of the batch being written, nil when none is.
	writing chan error
	// checking is the batch whose checks run while the next batch starts,
	// nil when none is: a slow name never holds up the names behind it.
	checking *checking
	// slots bound the checks in flight, over every batch, to the phase's
	// concurrency.
	slots      chan struct{}
	slotsPhase domainflow.Phase
	gen        *generate.Generator
	dns        *dnscheck.Resolver
	http       *httpcheck.Checker
	// resolverStats are the campaign's resolver figures, this step's
	// included; they are written with a batch at most every statsEvery,
	// and at the step's end.
	resolverStats []domainflow.ResolverStats
	statsDue      time.Time
}

// flush waits for the batch being written, if any.
func (r *run) flush() error {
	if r.writing == nil {
		return nil
	}
	err := <-r.writing
	r.writing = nil
	return err
}

func (r *run) close() {
	if r.dns != nil {
		r.dns.Close()
	}
	if r.http != nil {
		r.http.Close()
	}
}

// batch does one bounded piece of the current phase, or moves the campaign
// to the next phase when the current one has nothing left. It reports
// whether the campaign is complete.
func (r *run) batch(ctx context.Context) (bool, error) {
	c := r.c
	switch c.CurrentPhase {
	case domainflow.PhaseGeneration:
		if c.Counts.Generated >= c.TotalDomains {
			return false, r.advance(ctx, domainflow.PhaseDNS)
		}
		return false, r.generate(ctx)
	case domainflow.PhaseDNS, domainflow.PhaseHTTP, domainflow.PhaseAnalysis:
		if r.afterPhase != c.CurrentPhase {
			r.after, r.afterPhase = -1, c.CurrentPhase
		}
		work, err := r.e.db.PendingWork(ctx, c.UserID, c.ID, c.CurrentPhase, r.after, r.batchSize())
		if err != nil {
			return false, err
		}
		if len(work) == 0 {
			// Nothing after the batch in flight: let it finish and be
			// written before looking again from the start.
			if err := r.settle(ctx, true); err != nil {
				return false, err
			}
			if err := r.flush(); err != nil {
				return false, err
			}
			if r.after >= 0 {
				r.after = -1 // look once more from the start: a check cut short may have left a row behind
				return false, nil
			}
			return r.next(ctx)
		}
		ch, err := r.process(ctx, work)
		if err != nil {
			return false, err
		}
		r.after = work[len(work)-1].OffsetIndex // rows not started stay pending: a later pass takes them
		// The batch before this one finishes its last checks while this
		// one's start, and is written while they run: the database and the
		// network work at the same time.
		err = r.settle(ctx, true)
		r.checking = ch
		return false, err
	}
	return false, fmt.Errorf("campaign %s is in unknown phase %q", c.ID, c.CurrentPhase)
}

// checking is a batch whose checks were started: its outcomes arrive on
// done once every check started has ended.
type checking struct {
	phase domainflow.Phase
	done  chan []domainflow.DomainOutcome
}

// settle waits for the batch being checked, if any, and has its outcomes
// written (after the write before, one at a time) when keep is true.
func (r *run) settle(ctx context.Context, keep bool) error {
	ch := r.checking
	if ch == nil {
		return nil
	}
	r.checking = nil
	outs := <-ch.done
	// A check cut short by shutdown records a timeout that did not happen:
	// drop the whole batch and let the next step do it again.
	if err := ctx.Err(); err != nil {
		return err
	}
	if !keep || len(outs) == 0 {
		return nil
	}
	if err := r.flush(); err != nil {
		return err
	}
	c := r.c
	var stats []domainflow.ResolverStats
	if ch.phase == domainflow.PhaseDNS && r.dns != nil && time.Now().After(r.statsDue) {
		// The figures are not domain data: a write a second is plenty,
		// and the last one is the step's (see saveResolverStats).
		stats, r.statsDue = r.takeResolverStats(), time.Now().Add(statsEvery)
	}
	done := make(chan error, 1)
	r.writing = done
	go func() {
		n, committed, err := r.e.db.Record(ctx, c.UserID, c.ID, ch.phase, outs)
		r.e.processed(ch.phase, n)
		if err == nil && n > 0 {
			r.e.changed(committed)
		}
		if err == nil && stats != nil {
			err = r.e.db.SaveResolvers(ctx, c.UserID, c.ID, stats)
		}
		done <- err
	}()
	return nil
}

// next moves on from a finished validation phase.
func (r *run) next(ctx context.Context) (bool, error) {
	switch r.c.CurrentPhase {
	case domainflow.PhaseDNS:
		return false, r.advance(ctx, domainflow.PhaseHTTP)
	case domainflow.PhaseHTTP:
		return false, r.advance(ctx, domainflow.PhaseAnalysis)
	}
	c := r.c
	moved, err := r.e.db.Advance(ctx, c.UserID, c.ID, []domainflow.CampaignStatus{domainflow.StatusRunning},
		domainflow.CampaignMove{Status: domainflow.StatusCompleted, Warnings: c.EndWarnings()})
	if err != nil || !moved {
		return false, err
	}
	if done, err := r.e.db.GetCampaign(ctx, c.UserID, c.ID); err == nil {
		r.e.changed(done)
	}
	return true, nil
}

func (r *run) advance(ctx context.Context, to domainflow.Phase) error {
	c := r.c
	moved, err := r.e.db.Advance(ctx, c.UserID, c.ID, []domainflow.CampaignStatus{domainflow.StatusRunning},
		domainflow.CampaignMove{CurrentPhase: to})
	if err != nil || !moved {
		return err
	}
	now, err := r.e.db.GetCampaign(ctx, c.UserID, c.ID) // its new version orders the event
	if err != nil {
		return err
	}
	r.e.emit(domainflow.PhaseTransitionEvent(now, c.CurrentPhase, to))
	return nil
}

func (r *run) batchSize() int {
	switch r.c.CurrentPhase {
	case domainflow.PhaseDNS:
		return min(max(4*r.c.Config.DNS.Concurrency, 500), 5000)
	case domainflow.PhaseHTTP:
		return min(max(2*r.c.Config.HTTP.Concurrency, 50), 2000)
	}
	return 2000
}

// generate writes the next batch of names from the checkpoint: the number
// of names generated so far. Rows already there are skipped by the store.
func (r *run) generate(ctx context.Context) error {
	c := r.c
	if r.gen == nil {
		g, err := generate.New(c.Config.Generation)
		if err != nil {
			return permanent{err}
		}
		r.gen = g
	}
	from := c.Counts.Generated
	to := min(from+generateBatch, c.TotalDomains)
	now := time.Now().UTC()
	rows := make([]domainflow.Domain, 0, to-from)
	for i := from; i < to; i++ {
		name, tld := r.gen.Name(i)
		rows = append(rows, domainflow.Domain{OffsetIndex: i, Name: name, TLD: tld, GeneratedAt: now})
	}
	n, committed, err := r.e.db.InsertDomains(ctx, c.UserID, c.ID, rows)
	r.e.processed(domainflow.PhaseGeneration, n)
	if err == nil && n > 0 {
		r.e.changed(committed)
	}
	return err
}

// process starts the phase's checks of the work, at most the phase's
// concurrency in flight over every batch, and returns at once; the outcomes
// of the checks started arrive on the returned batch's done.
func (r *run) process(ctx context.Context, work []domainflow.PendingDomain) (*checking, error) {
	c := r.c
	var check func(w *domainflow.PendingDomain) domainflow.DomainOutcome
	concurrency := 1
	longest := longestCheck(c)
	if longest >= r.e.cfg.JobTimeout {
		return nil, permanent{fmt.Errorf("one %s check may take %s, longer than the job timeout (%s): raise --job-timeout or lower the campaign's timeouts",
			c.CurrentPhase, longest, r.e.cfg.JobTimeout)}
	}
	switch c.CurrentPhase {
	case domainflow.PhaseDNS:
		if r.dns == nil {
			if err := r.resolver(ctx); err != nil {
				return nil, err
			}
			c = r.c // with the wildcard zones found
		}
		concurrency = c.Config.DNS.Concurrency
		check = func(w *domainflow.PendingDomain) domainflow.DomainOutcome { return r.checkDNS(ctx, w, c) }
	case domainflow.PhaseHTTP:
		if r.http == nil {
			proxies, err := r.proxies(ctx)
			if err != nil {
				return nil, err
			}
			hc, err := httpcheck.New(c.Config.HTTP, proxies, httpcheck.WithLogger(r.e.log), httpcheck.WithBudget(r.e.bodies),
				httpcheck.WithGuard(r.e.guard))
			if err != nil {
				return nil, permanent{err}
			}
			r.http = hc
		}
		concurrency = c.Config.HTTP.Concurrency
		check = func(w *domainflow.PendingDomain) domainflow.DomainOutcome {
			var addrs []string
			if w.DNSResult != nil {
				addrs = w.DNSResult.Addresses
			}
			return w.HTTPChecked(r.http.Check(ctx, w.Name, addrs))
		}
	case domainflow.PhaseAnalysis:
		check = func(w *domainflow.PendingDomain) domainflow.DomainOutcome { return w.Scored(c.Config) }
	}

	if r.slots == nil || r.slotsPhase != c.CurrentPhase {
		r.slots, r.slotsPhase = make(chan struct{}, concurrency), c.CurrentPhase
	}

	// Checks start until the step's time is up, and only while one more can
	// finish before the job's timeout; the rest of the batch waits for the
	// next step. So a step's length is bounded by its time plus one check,
	// however slow the checks or low the rate limit.
	latest := r.deadline
	if d, ok := ctx.Deadline(); ok && d.Add(-longest).Before(latest) {
		latest = d.Add(-longest)
	}
	ch := &checking{phase: c.CurrentPhase, done: make(chan []domainflow.DomainOutcome, 1)}
	slots := r.slots
	go func() {
		outs := make([]domainflow.DomainOutcome, len(work))
		var wg sync.WaitGroup
		started := 0
		for i := range work {
			slots <- struct{}{}
			if (i > 0 && time.Now().After(latest)) || ctx.Err() != nil {
				<-slots
				break
			}
			started++
			wg.Go(func() {
				defer func() { <-slots }()
				outs[i] = check(&work[i])
			})
		}
		wg.Wait()
		ch.done <- outs[:started]
	}()
	return ch, nil
}

// longestCheck is how long one check of the phase may take at worst.
func longestCheck(c *domainflow.Campaign) time.Duration {
	return c.Config.LongestCheck(c.CurrentPhase)
}

// proxies returns the campaign's proxies (the ones it names that still
// exist; httpcheck skips disabled and unhealthy ones).
func (r *run) proxies(ctx context.Context) ([]*domainflow.Proxy, error) {
	if len(r.c.Config.HTTP.ProxyIDs) == 0 {
		return nil, nil
	}
	all, err := r.e.db.ListProxies(ctx, r.c.UserID)
	if err != nil {
		return nil, err
	}
	want := map[uuid.UUID]bool{}
	for _, id := range r.c.Config.HTTP.ProxyIDs {
		want[id] = true
	}
	var out []*domainflow.Proxy
	for _, p := range all {
		if want[p.ID] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, permanent{errors.New("none of the campaign's proxies exists any more")}
	}
	return out, nil
}

// permanent marks an error that retrying cannot mend (the campaign's
// configuration cannot work here): the campaign fails at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }
