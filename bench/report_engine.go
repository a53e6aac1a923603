package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report parts of the generation, dns and memory sections.

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

func secs(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// ---- generation ----

// pairedRatio is the median over chunks of ceiling time ÷ engine time: the
// engine's share of the ceiling chunk by chunk, each pair sharing its noise.
func (g *genResult) pairedRatio() float64 {
	xs := make([]float64, len(g.EngineChunk))
	for i := range xs {
		xs[i] = g.CeilingChunk[i].Seconds() / g.EngineChunk[i].Seconds()
	}
	return floatQuantile(xs, 0.5)
}

func (r *report) generationTable(w io.Writer) {
	fmt.Fprintln(w, "| Database | Rows | Engine path: generate + InsertDomains | InsertDomains alone | Building the rows alone | Ceiling: the database's bulk insert | Engine ÷ ceiling | Paired ratio p50 | Engine chunk p50 / p99 | Ceiling chunk p50 / p99 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, g := range r.Generation {
		fmt.Fprintf(w, "| %s | %s | %s domains/s | %s/s | %s/s | %s rows/s | **%.2f×** | %.2f× | %s / %s | %s / %s |\n", g.DB, thousands(g.Rows),
			rate(g.engineRate()), rate(g.insertRate()), rate(g.genRate()), rate(g.ceilingRate()), g.ratio(), g.pairedRatio(),
			ms(durQuantile(g.EngineChunk, 0.5)), ms(durQuantile(g.EngineChunk, 0.99)), ms(durQuantile(g.CeilingChunk, 0.5)), ms(durQuantile(g.CeilingChunk, 0.99)))
	}
}

func (r *report) generationMarkdown(w io.Writer) {
	fmt.Fprintln(w, "## Generation + persistence")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The engine's generation path, chunk by chunk: `generate.New`, then for each batch of %s offsets the rows `engine/step.go` builds "+
		"(name, TLD, one `generated_at`; that loop is unexported, so the bench replicates it in `engineRows`) and `store.InsertDomains` "+
		"(one transaction, INSERTs of 1,000 rows with ON CONFLICT DO NOTHING … RETURNING, and the campaign's tally update). "+
		"The ceiling is the database's own bulk insert of the same rows into a scratch table with the same columns and indexes (no foreign key): ", thousands(engineGenerateBatch))
	var bs []string
	for _, g := range r.Generation {
		bs = append(bs, g.DB+": "+g.Baseline)
	}
	fmt.Fprintf(w, "%s. Chunks alternate between the two (either one first, in turn) so both tables grow alike and share the noise; "+
		"building the rows is timed as part of the engine path only. Each database is fresh (PostgreSQL: a new database; SQLite: a new file in a temporary directory, WAL, synchronous=NORMAL, as `store.Open` sets it). "+
		"Chunk times are per %s rows; the paired ratio is the median over chunks of ceiling time ÷ engine time.\n\n", strings.Join(bs, "; "), thousands(engineGenerateBatch))
	r.generationTable(w)
	for _, g := range r.Generation {
		if g.TableSize != "" {
			fmt.Fprintf(w, "\n%s sizes after the run: `domains` %s, the ceiling's table %s (both with their indexes, including the trigram index on name).\n", g.DB, g.TableSize, g.CeilingSize)
		}
	}
	fmt.Fprintln(w)
}

func (r *report) generationGoals() []string {
	var lines []string
	for _, g := range r.Generation {
		lines = append(lines, fmt.Sprintf("- %s on %s: %s in this run — %s domains/s against %s rows/s = %.2f× (paired per chunk %.2f×).",
			goalGeneration, g.DB, verdict(g.ratio() >= 0.5), rate(g.engineRate()), rate(g.ceilingRate()), g.ratio(), g.pairedRatio()))
	}
	return lines
}

// ---- dns ----

func (d *dnsReport) ceilingMedian(runs []float64) float64 { return floatQuantile(runs, 0.5) }

func (r *report) dnsTables(w io.Writer) {
	d := r.DNS
	fmt.Fprintln(w, "| Measurement | Names | Lookups/s | Batch p50 / p99 | Ceiling: server capacity (median of the runs around it) | Share of the ceiling |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	if c := d.Stream; c != nil {
		fmt.Fprintf(w, "| Resolver.Check alone, %d goroutines streaming (no database) | %s | %s | — | %s q/s | %s |\n", d.Concurrency, thousands(c.Names),
			rate(c.rate()), rate(d.ceilingMedian(c.Ceiling)), pct(c.rate()/d.ceilingMedian(c.Ceiling)))
	}
	if c := d.Batched; c != nil {
		fmt.Fprintf(w, "| Resolver.Check alone, in the engine's batches of %s × %d goroutines (no database) | %s | %s | %s / %s | %s q/s | %s |\n",
			thousands(int64(d.BatchSize)), d.Concurrency, thousands(c.Names), rate(c.rate()), ms(durQuantile(c.Batches, 0.5)), ms(durQuantile(c.Batches, 0.99)),
			rate(d.ceilingMedian(c.Ceiling)), pct(c.rate()/d.ceilingMedian(c.Ceiling)))
	}
	for _, e := range d.Engines {
		p := e.dnsPhase()
		var durs []time.Duration
		for _, b := range e.Batches {
			durs = append(durs, b.Dur)
		}
		fmt.Fprintf(w, "| **Engine on %s, DNS phase**%s | %s | **%s** | %s / %s | %s q/s | **%s** |\n", e.DB, e.stoppedNote(), thousands(p.Items), rate(p.rate()),
			ms(durQuantile(durs, 0.5)), ms(durQuantile(durs, 0.99)), rate(d.ceilingMedian(e.Ceiling)), pct(p.rate()/d.ceilingMedian(e.Ceiling)))
	}
	if d.Stream != nil && len(d.Stream.Runs) > 0 {
		var rs []string
		for _, x := range d.Stream.Runs {
			rs = append(rs, rate(x))
		}
		fmt.Fprintf(w, "\nResolver.Check streaming, each fifth of the names: %s lookups/s.\n", strings.Join(rs, ", "))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Server capacity runs (queries/s), in the order they ran:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| When | Runs | Median | Slowest | Fastest |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	for i, g := range d.Ceilings {
		label := fmt.Sprintf("group %d", i+1)
		if i < len(d.CeilingLabels) {
			label = d.CeilingLabels[i]
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", label, len(g), rate(floatQuantile(g, 0.5)), rate(floatQuantile(g, 0)), rate(floatQuantile(g, 1)))
	}

	for _, e := range d.Engines {
		fmt.Fprintln(w)
		span, total := e.dnsShare()
		var rest []time.Duration
		for _, b := range e.Batches {
			rest = append(rest, b.Dur-b.DNSSpan)
		}
		fmt.Fprintf(w, "Engine on %s%s: the campaign took %s from the start call to its end; %s DNS queries reached the server; "+
			"%d DNS results were neither ok nor NXDOMAIN (timeouts, errors); tallies: DNS ok %s (the server resolves %s), DNS failed %s, HTTP ok %s, HTTP failed %s, leads %s.\n\n",
			e.DB, e.stoppedNote(), secs(e.Total), thousands(int64(e.Queries)), e.Unexpected, thousands(e.Counts.DNSOK), thousands(e.Expected), thousands(e.Counts.DNSFailed),
			thousands(e.Counts.HTTPOK), thousands(e.Counts.HTTPFailed), thousands(e.Counts.LeadMatch))
		fmt.Fprintln(w, "| Phase | Time | Names | Rate |")
		fmt.Fprintln(w, "|---|--:|--:|--:|")
		for _, p := range e.Phases {
			fmt.Fprintf(w, "| %s | %s | %s | %s/s |\n", p.Phase, secs(p.dur()), thousands(p.Items), rate(p.rate()))
		}
		if total > 0 {
			fmt.Fprintf(w, "\nDNS phase, %d batches: the server was seeing a batch's queries (first to last arrival) for %s of %s (%s); "+
				"the rest, %s (%s; per batch p50 %s, p99 %s), is the engine reading the pending names (`store.PendingWork`), "+
				"recording the results (`store.Record`), re-reading the campaign, and moving from one 5 s step to the next (River snooze and fetch, a new resolver).\n",
				len(e.Batches), secs(span), secs(total), pct(span.Seconds()/total.Seconds()), secs(total-span), pct(1-span.Seconds()/total.Seconds()),
				ms(durQuantile(rest, 0.5)), ms(durQuantile(rest, 0.99)))
		}
	}
}

// stoppedNote says, for a campaign the bench cancelled mid-DNS, how far it got.
func (e *engineResult) stoppedNote() string {
	if !e.Stopped {
		return ""
	}
	p := e.dnsPhase()
	return fmt.Sprintf(" (stopped: the bench cancelled the campaign after %s of DNS phase, at %s of %s names)", secs(p.dur()), thousands(p.Items), thousands(e.Names))
}

func (r *report) dnsMarkdown(w io.Writer) {
	d := r.DNS
	fmt.Fprintln(w, "## DNS validation")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "An authoritative `miekg/dns` server inside the bench on 127.0.0.1 answers every name of the campaign: %.1f%% of them "+
		"(%s of %s, chosen by a hash of the name) with an A record 127.0.0.1, the rest NXDOMAIN; the resolving names' HTTP port is a tiny local `httptest` page, so the HTTP phase is small. "+
		"The campaign (%s names, pattern `[4 of a-z0-9]shop` + .com/.net) has dns concurrency %d, timeout %d ms, %d retry; HTTP concurrency %d. "+
		"It runs on a real `campaign.Engine` (one campaign worker, StepTime 5s) on a fresh database, started with `db.Transition(…, start)` and `engine.Enqueue`, "+
		"first on PostgreSQL, then on SQLite. The DNS phase's rate is the names it checked between the `phase_transition` events into dns and into http; "+
		"its batches are the intervals between `campaign_progress` events (the engine's batch is %s names), and the server notes when each query arrives, "+
		"which splits each batch into the resolver's part and the rest.\n\n",
		d.ResolvingPct, thousands(d.Expected), thousands(d.Names), thousands(d.Names), d.Concurrency, d.TimeoutMS, d.Retries, d.HTTPConcurrency, thousands(int64(d.BatchSize)))
	fmt.Fprintf(w, "The ceiling is the same server's capacity under a raw load loop (as `dnscheck`'s BenchmarkCheck measures it): queries for the campaign's first 4,096 names, "+
		"pre-packed, over %d connected UDP sockets each keeping %d in flight (%d in all, as the campaign's concurrency) and sending one for every reply; "+
		"runs of %s, %d before and after each measurement, each measurement against the median of the runs just before and just after it. "+
		"`dnscheck.Resolver.Check` alone (no database) runs over the same names, once streaming (%d goroutines each taking the next name) "+
		"and once the way the engine's DNS phase works (batches, the next one when the last goroutine is done; `(*run).process` is unexported, so the bench replicates it).\n\n",
		d.CeilingSocks, d.CeilingWindow, d.CeilingSocks*d.CeilingWindow, d.CeilingRun, len(firstOr(d.Ceilings)), d.Concurrency)
	r.dnsTables(w)
	for _, e := range d.Engines {
		if e.RecordPlan == "" {
			continue
		}
		fmt.Fprintf(w, "\nPlan of the first full `store.Record` statement of the DNS phase on %s, as the planner sees it after the run (EXPLAIN, not executed; with the statistics the table had then):\n\n```sql\n%s\n```\n\n```\n%s\n```\n",
			e.DB, elideValues(e.RecordSQL), e.RecordPlan)
	}
	fmt.Fprintln(w)
}

// elideValues shortens a VALUES list to its first row.
func elideValues(q string) string {
	i := strings.Index(q, "(VALUES ")
	j := strings.Index(q, ") UPDATE ")
	if i < 0 || j < i {
		return q
	}
	first := q[i+len("(VALUES ") : j]
	k := strings.Index(first, "),")
	if k < 0 {
		return q
	}
	return q[:i+len("(VALUES ")] + first[:k+1] + ", … (one row per outcome)" + q[j:]
}

func firstOr(g [][]float64) []float64 {
	if len(g) == 0 {
		return nil
	}
	return g[0]
}

func (r *report) dnsGoals() []string {
	if r.DNS == nil {
		return nil
	}
	var lines []string
	for _, e := range r.DNS.Engines {
		p := e.dnsPhase()
		c := r.DNS.ceilingMedian(e.Ceiling)
		part := ""
		if e.Stopped {
			part = fmt.Sprintf(" over the first %s of %s names (the bench stopped the campaign after %s of DNS phase)", thousands(p.Items), thousands(e.Names), secs(p.dur()))
		}
		lines = append(lines, fmt.Sprintf("- %s on %s: %s in this run — %s lookups/s%s.", goalDNSRate, e.DB, verdict(p.rate() >= dnsGoalRate), rate(p.rate()), part))
		lines = append(lines, fmt.Sprintf("- %s on %s: %s in this run — %s lookups/s against %s queries/s = %s (Resolver.Check alone, no database: %s of it streaming, %s in the engine's batches).",
			goalDNSCeiling, e.DB, verdict(p.rate() >= 0.5*c), rate(p.rate()), rate(c), pct(p.rate()/c),
			pctOf(r.DNS.Stream, r.DNS), pctOf(r.DNS.Batched, r.DNS)))
	}
	return lines
}

func pctOf(c *checkResult, d *dnsReport) string {
	if c == nil {
		return "—"
	}
	return pct(c.rate() / d.ceilingMedian(c.Ceiling))
}

// ---- memory ----

func (r *report) memoryTables(w io.Writer) {
	m := r.Memory
	fmt.Fprintln(w, "| Point | Time | Phase | RSS |")
	fmt.Fprintln(w, "|---|--:|---|--:|")
	if !m.Start.IsZero() {
		fmt.Fprintf(w, "| process up, engine not yet started | 0s | — | %s |\n", mb(m.StartRSSKB))
	}
	for _, p := range []float64{0.1, 0.5, 0.9} {
		if s, ok := m.atProgress(p); ok {
			fmt.Fprintf(w, "| %s of the work | %s | %s | %s |\n", pct(p), secs(s.T.Sub(m.Start)), s.Phase, mb(s.RSSKB))
		}
	}
	if n := len(m.Samples); n > 0 {
		s := m.Samples[n-1]
		fmt.Fprintf(w, "| last sample | %s | %s | %s |\n", secs(s.T.Sub(m.Start)), s.Phase, mb(s.RSSKB))
	}
	fmt.Fprintf(w, "| **peak (VmHWM)** | | | **%s** |\n", mb(m.PeakRSSKB))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Phase | Time | Names | Rate | Peak RSS sampled in it | RSS at its end |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
	for _, p := range m.Phases {
		peak, last := m.phasePeak(p)
		pk, ls := "— (no sample)", "—"
		if peak > 0 {
			pk, ls = mb(peak), mb(last)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s/s | %s | %s |\n", p.Phase, secs(p.dur()), thousands(p.Items), rate(p.rate()), pk, ls)
	}
	fmt.Fprintf(w, "| whole campaign | %s | | | %s | |\n", secs(m.Total), mb(m.PeakRSSKB))
	if h := m.Heap; h != nil {
		fmt.Fprintf(w, "\nThe child's Go runtime at its end: Sys %s, HeapSys %s, HeapInuse %s, stacks %s, %d GCs (%s of pauses), %d goroutines.\n",
			mb(int64(h.Sys/1024)), mb(int64(h.HeapSys/1024)), mb(int64(h.HeapInuse/1024)), mb(int64(h.StackInuse/1024)), h.NumGC, h.PauseTotal.Round(time.Millisecond), h.Goroutines)
	}
}

func (r *report) memoryMarkdown(w io.Writer) {
	m := r.Memory
	fmt.Fprintln(w, "## Memory of a campaign run by the engine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "A campaign of %s names on PostgreSQL (a fresh database), run by a real `campaign.Engine` (one campaign worker, StepTime 5s) in a child process: "+
		"the bench binary re-executed, which opens the store, starts the engine, starts and enqueues the campaign and exits when it completes. "+
		"The DNS server (%.1f%% of names resolve, %s of them; the rest NXDOMAIN) and the HTTP page stay in the bench process, so the child's memory is the engine's own. "+
		"The bench samples the child's VmRSS (`/proc/PID/status`) and the campaign's tallies every 500 ms; the work done at a sample is names generated + DNS-checked + HTTP-fetched + scored, "+
		"and \"10%% of the work\" is the first sample at or past 10%% of the whole campaign's (2 × names + 2 × resolving names). Sampled %d times over %s.\n\n",
		thousands(m.Names), m.ResolvingPct, thousands(m.Expected), len(m.Samples), secs(m.Wall))
	if m.Stopped {
		fmt.Fprintf(w, "**Stopped:** the campaign had not completed after %s (-memory-timeout), so the bench cancelled it; the figures below are those of the part done (%s of %s units of work).\n\n",
			secs(m.Wall), thousands(units(m.Counts)), thousands(m.totalUnits()))
	}
	r.memoryTables(w)
	fmt.Fprintln(w)
}

func (r *report) memoryGoals() []string {
	m := r.Memory
	if m == nil || m.Counts.Generated == 0 {
		return nil
	}
	ok, r10, r90, found := m.flat()
	if !found {
		why := "too few samples"
		if m.Stopped {
			why = fmt.Sprintf("the bench cancelled the campaign at -memory-timeout (%s of %s units of work done); peak %s",
				thousands(units(m.Counts)), thousands(m.totalUnits()), mb(m.PeakRSSKB))
		}
		return []string{fmt.Sprintf("- %s: not settled in this run (%s).", m.goal(), why)}
	}
	return []string{fmt.Sprintf("- %s: %s in this run — %s at 10%%, %s at 90%% (%.2f×); peak %s.", m.goal(), verdict(ok),
		mb(r10), mb(r90), float64(r90)/float64(r10), mb(m.PeakRSSKB))}
}
