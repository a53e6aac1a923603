package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/internal/dnsload"
	"github.com/domainflow/domainflow/store"
)

// The DNS section's goals.
const (
	goalDNSRate    = "DNS validation through the engine at ≥ 20,000 lookups/s"
	goalDNSCeiling = "DNS validation through the engine at ≥ 50% of the DNS server's own capacity"
	dnsGoalRate    = 20_000
)

type dnsReport struct {
	Names                       int64
	Concurrency, TimeoutMS      int
	Retries                     int
	ResolvingPct                float64
	Expected                    int64 // names the server resolves
	BatchSize                   int
	HTTPConcurrency             int
	CeilingSocks, CeilingWindow int
	CeilingRun                  time.Duration
	Ceilings                    [][]float64 // groups of runs, before, between and after the measurements
	CeilingLabels               []string
	Stream, Batched             *checkResult
	Engines                     []*engineResult
}

// checkResult is dnscheck.Resolver.Check alone, no database.
type checkResult struct {
	Names   int64
	Elapsed time.Duration
	Runs    []float64       // stream: the rate of each fifth of the names
	Batches []time.Duration // batched: each batch's time
	OK, NX  int64
	Other   int64 // timeouts and errors
	Ceiling []float64
}

func (c *checkResult) rate() float64 { return float64(c.Names) / c.Elapsed.Seconds() }

// engineResult is one campaign run by the engine.
type engineResult struct {
	DB         string
	Names      int64
	Total      time.Duration // from the start call to campaign_completed
	Phases     []phaseSpan
	Batches    []batchStat
	Ceiling    []float64
	Counts     domainflow.Counts
	Expected   int64
	Unexpected int64 // DNS results neither ok nor NXDOMAIN (timeouts, errors)
	Queries    int   // queries the server saw during the campaign
	// Stopped: the DNS phase ran past -dns-limit and the bench cancelled
	// the campaign; the DNS figures are those of the batches done by then.
	Stopped bool
	// The first full store.Record statement of the DNS phase and its plan,
	// as the planner sees it after the run (EXPLAIN, not executed).
	RecordSQL, RecordPlan string
}

func (e *engineResult) dnsPhase() phaseSpan {
	p, _ := findPhase(e.Phases, domainflow.PhaseDNS)
	return p
}

// dnsShare is the part of the DNS phase's batches during which the server
// was seeing their queries.
func (e *engineResult) dnsShare() (span, total time.Duration) {
	for _, b := range e.Batches {
		span += b.DNSSpan
		total += b.Dur
	}
	return span, total
}

// engineDNSBatch is engine/step.go's batch size for the DNS phase
// ((*run).batchSize, unexported there).
func engineDNSBatch(concurrency int) int { return min(max(4*concurrency, 500), 5000) }

func dnsCampaignConfig(o options, n int64, resolver string, httpPort int) domainflow.CampaignConfig {
	cfg := benchConfig(n)
	cfg.DNS = domainflow.DNSConfig{Resolvers: []string{resolver}, TimeoutMS: o.dnsTimeoutMS, Retries: 1,
		Concurrency: o.dnsConcurrency}
	cfg.HTTP.Ports = []int{httpPort}
	cfg.HTTP.Concurrency = 64
	cfg.HTTP.TimeoutMS = 5000
	return cfg
}

func runDNS(ctx context.Context, o options, rep *report) error {
	peers, err := startPeers(o.resolvingPct)
	if err != nil {
		return err
	}
	defer peers.stop()
	srv := peers.dns

	n := o.dnsDomains
	cfg := peers.config(o, n)
	gen, err := generate.New(cfg.Generation)
	if err != nil {
		return err
	}
	names := make([]string, n)
	for i := range n {
		names[i], _ = gen.Name(i)
	}
	d := &dnsReport{Names: n, Concurrency: o.dnsConcurrency, TimeoutMS: o.dnsTimeoutMS, Retries: cfg.DNS.Retries,
		ResolvingPct: o.resolvingPct, Expected: srv.expectedResolving(gen, n), BatchSize: engineDNSBatch(o.dnsConcurrency),
		HTTPConcurrency: cfg.HTTP.Concurrency, CeilingSocks: 4, CeilingWindow: max(1, o.dnsConcurrency/4), CeilingRun: o.ceilingRun}
	rep.DNS = d
	logf("dns: server %s resolves %d of the %d names (%.1f%%); HTTP pages at 127.0.0.1:%d", srv.addr, d.Expected, n, o.resolvingPct, peers.port)

	loadNames := names[:min(len(names), 4096)]
	ceiling := func(label string) error {
		var runs []float64
		for range o.ceilingRuns {
			if err := ctx.Err(); err != nil {
				return err
			}
			q, err := dnsload.Capacity(srv.addr, loadNames, o.ceilingRun, d.CeilingSocks, d.CeilingWindow)
			if err != nil {
				return fmt.Errorf("server capacity: %w", err)
			}
			runs = append(runs, q)
		}
		d.Ceilings = append(d.Ceilings, runs)
		d.CeilingLabels = append(d.CeilingLabels, label)
		logf("dns: server capacity %s: median %.0f queries/s (%d runs of %s, %d sockets × %d in flight)",
			label, floatQuantile(runs, 0.5), len(runs), o.ceilingRun, d.CeilingSocks, d.CeilingWindow)
		return nil
	}
	// bracket is the runs just before and just after measurement i.
	bracket := func(i int) []float64 {
		var out []float64
		for _, g := range d.Ceilings[i:min(i+2, len(d.Ceilings))] {
			out = append(out, g...)
		}
		return out
	}

	if err := ceiling("before Check streaming"); err != nil {
		return err
	}
	err = profiled(o, "dns-check-stream", func() error {
		d.Stream, err = checkStream(ctx, cfg.DNS, names)
		return err
	})
	if err != nil {
		return fmt.Errorf("Resolver.Check: %w", err)
	}
	logf("dns: Resolver.Check alone, %d workers streaming: %.0f lookups/s (%d ok, %d NXDOMAIN, %d other)",
		o.dnsConcurrency, d.Stream.rate(), d.Stream.OK, d.Stream.NX, d.Stream.Other)
	if err := ceiling("after Check streaming"); err != nil {
		return err
	}
	err = profiled(o, "dns-check-batched", func() error {
		d.Batched, err = checkBatched(ctx, cfg.DNS, names, d.BatchSize)
		return err
	})
	if err != nil {
		return fmt.Errorf("Resolver.Check: %w", err)
	}
	logf("dns: Resolver.Check alone, in the engine's batches of %d: %.0f lookups/s", d.BatchSize, d.Batched.rate())
	if err := ceiling("after Check batched"); err != nil {
		return err
	}
	d.Stream.Ceiling, d.Batched.Ceiling = bracket(0), bracket(1)

	var errs []error
	for _, dialect := range []string{store.Postgres, store.SQLite} {
		res, err := engineDNS(ctx, o, dialect, srv, cfg, d.Expected)
		if err != nil {
			errs = append(errs, fmt.Errorf("engine on %s: %w", dialectName(dialect), err))
		}
		if cerr := ceiling("after the engine on " + dialectName(dialect)); cerr != nil {
			errs = append(errs, cerr)
			break
		}
		if res != nil {
			res.Ceiling = bracket(len(d.Ceilings) - 2)
			d.Engines = append(d.Engines, res)
		}
	}
	return errors.Join(errs...)
}

// tally counts a Check's result.
func (c *checkResult) tally(res domainflow.DNSResult) {
	switch {
	case res.Status == domainflow.CheckOK:
		atomic.AddInt64(&c.OK, 1)
	case res.Reason == domainflow.ReasonNXDomain:
		atomic.AddInt64(&c.NX, 1)
	default:
		atomic.AddInt64(&c.Other, 1)
	}
}

// checkStream runs Resolver.Check over the names with `concurrency`
// goroutines taking the next name as they finish one, in five slices of
// the names timed separately.
func checkStream(ctx context.Context, cfg domainflow.DNSConfig, names []string) (*checkResult, error) {
	r, err := dnscheck.New(cfg, guardLoopback)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res := &checkResult{Names: int64(len(names))}
	const slices = 5
	for s := range slices {
		part := names[len(names)*s/slices : len(names)*(s+1)/slices]
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for range min(cfg.Concurrency, len(part)) {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(len(part)) {
						return
					}
					res.tally(r.Check(ctx, part[i]))
				}
			})
		}
		wg.Wait()
		d := time.Since(t0)
		res.Elapsed += d
		res.Runs = append(res.Runs, float64(len(part))/d.Seconds())
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkBatched runs Resolver.Check over the names the way the engine's DNS
// phase does (engine/step.go, (*run).process, replicated here as it is
// unexported): batches of batch names, each worked by `concurrency`
// goroutines fed from a channel, the next batch only when the last
// goroutine is done; no database.
func checkBatched(ctx context.Context, cfg domainflow.DNSConfig, names []string, batch int) (*checkResult, error) {
	r, err := dnscheck.New(cfg, guardLoopback)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res := &checkResult{Names: int64(len(names))}
	outs := make([]domainflow.DomainOutcome, batch)
	for from := 0; from < len(names); from += batch {
		work := names[from:min(from+batch, len(names))]
		t0 := time.Now()
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(cfg.Concurrency, len(work)) {
			wg.Go(func() {
				for i := range next {
					dr := r.Check(ctx, work[i])
					outs[i] = domainflow.PendingDomain{OffsetIndex: int64(from + i)}.DNSChecked(dr, cfg.MaxAttempts)
					res.tally(dr)
				}
			})
		}
		for i := range work {
			next <- i
		}
		close(next)
		wg.Wait()
		d := time.Since(t0)
		res.Elapsed += d
		res.Batches = append(res.Batches, d)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// engineDNS runs the campaign with a real engine on a fresh database and
// takes its DNS phase apart.
func engineDNS(ctx context.Context, o options, dialect string, srv *authServer, cfg domainflow.CampaignConfig, expected int64) (_ *engineResult, err error) {
	t, err := openTarget(ctx, o, dialect, true)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	c, err := t.draftCampaign(ctx, "dns", cfg)
	if err != nil {
		return nil, err
	}
	n := c.TotalDomains
	res := &engineResult{DB: dialectName(dialect), Names: n, Expected: expected}
	logf("dns: engine on %s: a campaign of %d names, dns concurrency %d, timeout %d ms", res.DB, n, cfg.DNS.Concurrency, cfg.DNS.TimeoutMS)

	// Keep the first full store.Record statement of the DNS phase, to show
	// its plan afterwards.
	var (
		capMu   sync.Mutex
		recordQ *query
	)
	cb := t.db.Gorm().Callback().Row()
	if err := cb.After("gorm:row").Register("bench:capture-record", func(tx *gorm.DB) {
		q := tx.Statement.SQL.String()
		if !strings.HasPrefix(q, "WITH v ") || !strings.Contains(q, "dns_result = v.result") || len(tx.Statement.Vars) < 7*500 {
			return
		}
		capMu.Lock()
		defer capMu.Unlock()
		if recordQ == nil {
			recordQ = &query{SQL: q, Args: slices.Clone(tx.Statement.Vars)}
		}
	}); err != nil {
		return nil, err
	}
	defer cb.Remove("bench:capture-record")

	srv.record(int(n + n/5 + 10_000))
	var evs []evRec
	var final *domainflow.Campaign
	t0 := time.Now()
	var lastLog time.Time
	err = profiled(o, "dns-engine-"+dialect, func() error {
		var err error
		evs, final, res.Stopped, err = runEngineCampaign(ctx, t.db, t.url, t.user.ID, c.ID, engineRunOpts{
			Timeout: o.phaseTimeout, DNSLimit: o.dnsLimit, Log: storeLogger(),
			OnEvent: func(e evRec) {
				if e.Type == "phase_transition" || time.Since(lastLog) > 5*time.Second {
					lastLog = time.Now()
					logf("  %s (phase %s → %s): generated %d, dns %d, http %d", e.Type, e.Phase, e.To, e.Counts.Generated,
						e.Counts.DNSOK+e.Counts.DNSFailed, e.Counts.HTTPOK+e.Counts.HTTPFailed)
				}
			}})
		return err
	})
	arrivals := srv.stopRecording()
	if final != nil {
		res.Total = time.Since(t0)
		if len(evs) > 0 {
			res.Total = evs[len(evs)-1].T.Sub(t0)
		}
		res.Counts = final.Counts
	}
	if err != nil {
		return nil, err
	}
	res.Queries = len(arrivals)
	res.Phases = phases(evs, final)
	if res.Stopped {
		// Cancelled mid-phase: the DNS phase is what its batches did.
		for i := range res.Phases {
			if p := &res.Phases[i]; p.Phase == domainflow.PhaseDNS {
				p.End = time.Now()
				res.Batches = dnsBatches(evs, *p, arrivals)
				p.End, p.Items = p.Start, 0
				for _, b := range res.Batches {
					p.End = p.End.Add(b.Dur)
					p.Items += b.Names
				}
			}
		}
	}
	dnsPhase, ok := findPhase(res.Phases, domainflow.PhaseDNS)
	if !ok {
		return nil, errors.New("no DNS phase in the engine's events")
	}
	if !res.Stopped {
		res.Batches = dnsBatches(evs, dnsPhase, arrivals)
	}

	capMu.Lock()
	rq := recordQ
	capMu.Unlock()
	if rq != nil {
		res.RecordSQL = rq.SQL
		if res.RecordPlan, err = explainStatement(ctx, t.db, dialect, *rq); err != nil {
			logf("dns: EXPLAIN of store.Record's statement: %v", err)
		}
	}

	q := "SELECT count(*) FROM domains WHERE dns_result IS NOT NULL AND dns_result->>'status' <> 'ok' AND COALESCE(dns_result->>'reason', '') <> 'nxdomain'"
	if dialect == store.SQLite {
		q = "SELECT count(*) FROM domains WHERE dns_result IS NOT NULL AND json_extract(dns_result, '$.status') <> 'ok' AND COALESCE(json_extract(dns_result, '$.reason'), '') <> 'nxdomain'"
	}
	if err := t.db.SQL().QueryRowContext(ctx, q).Scan(&res.Unexpected); err != nil {
		return nil, fmt.Errorf("count unexpected DNS results: %w", err)
	}
	span, total := res.dnsShare()
	logf("dns: engine on %s: DNS phase %d names in %s = %.0f lookups/s; the server saw queries %.0f%% of the phase's batches; %d unexpected results",
		res.DB, dnsPhase.Items, dnsPhase.dur().Round(time.Millisecond), dnsPhase.rate(), 100*span.Seconds()/total.Seconds(), res.Unexpected)
	if !res.Stopped && (res.Counts.DNSOK != expected || res.Counts.DNSFailed != n-expected) {
		logf("dns: engine on %s: DNS ok %d, failed %d; the server resolves %d of %d", res.DB, res.Counts.DNSOK, res.Counts.DNSFailed, expected, n)
	}
	return res, nil
}

// explainStatement returns the plan of q without running it: EXPLAIN on
// PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
func explainStatement(ctx context.Context, db *store.DB, dialect string, q query) (string, error) {
	if dialect != store.SQLite {
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return planText(ctx, conn, "EXPLAIN "+q.SQL, q.Args...)
	}
	rows, err := db.SQL().QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.SQL, q.Args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	depth := map[int64]int{}
	for rows.Next() {
		var id, parent, unused int64
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		depth[id] = depth[parent] + 1
		lines = append(lines, strings.Repeat("  ", depth[id]-1)+detail)
	}
	return strings.Join(lines, "\n"), rows.Err()
}
