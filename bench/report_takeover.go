package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report part of the takeover and hints sections.

// ---- takeover ----

func (t *takeoverReport) cases(kind string) []*takeoverCase {
	var out []*takeoverCase
	for _, c := range t.Cases {
		if c.Kind == kind && len(c.Rounds) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (r *report) takeoverTable(w io.Writer) {
	t := r.Takeover
	fmt.Fprintln(w, "| Case | Database | Rounds | Kill → progress p50 | Kill → progress max | Goal | Kill → ready p50 | Ready → progress p50 | stalled_since shown | Baseline: start → first progress p50 | Start → first DNS result p50 | Takeover ÷ start → first DNS result (p50) |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range t.Cases {
		if len(c.Rounds) == 0 {
			continue
		}
		take := durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.Takeover }), 0.5)
		dns := durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.StartDNS }), 0.5)
		ready, after := "—", "—"
		if c.Kind == caseRestart {
			ready = secs(durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.Ready }), 0.5))
			after = secs(durQuantile(c.durs(takeoverRound.afterReady), 0.5))
		}
		stalled := 0
		for _, r := range c.Rounds {
			if r.Stalled {
				stalled++
			}
		}
		maxTake := secs(c.maxTakeover())
		if slicesAny(c.Rounds, func(r takeoverRound) bool { return r.TimedOut }) {
			maxTake = "> " + secs(t.Limit) + " (no progress)"
		}
		fmt.Fprintf(w, "| %s | %s | %d | **%s** | **%s** | ≤ %s | %s | %s | %d of %d | %s | %s | %.1f× |\n", c.Kind, c.DB, len(c.Rounds),
			secs(take), maxTake, secs(c.goal()), ready, after, stalled, len(c.Rounds),
			secs(durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.Start }), 0.5)), secs(dns),
			float64(take)/float64(max(dns, 1)))
	}
}

func slicesAny[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}

func (r *report) takeoverRounds(w io.Writer) {
	fmt.Fprintln(w, "| Case | Database | Round | Start → first progress | Start → first DNS result | Processed at the kill (phase) | Kill → ready | Kill → progress | stalled_since shown after |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range r.Takeover.Cases {
		for i, rd := range c.Rounds {
			ready, stalled, take := "—", "—", secs(rd.Takeover)
			if c.Kind == caseRestart {
				ready = secs(rd.Ready)
			}
			if rd.Stalled {
				stalled = secs(rd.StallFor)
			}
			if rd.TimedOut {
				take = "> " + secs(rd.Takeover)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s (%s) | %s | %s | %s |\n", c.Kind, c.DB, i+1, secs(rd.Start), secs(rd.StartDNS),
				thousands(rd.AtKill), rd.Phase, ready, take, stalled)
		}
	}
}

func (r *report) takeoverMarkdown(w io.Writer) {
	t := r.Takeover
	fmt.Fprintln(w, "## Takeover: a campaign after `kill -9` of its instance")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The real binary (`go build ./cmd/domainflow`, %s here) run as `domainflow serve --addr … --database-url …` with every other setting at its default "+
		"(no --rescue-after, --job-timeout or --step-time; the instance id is the default HOST/ADDRESS), only the API's rate limit off (`DOMAINFLOW_RATE_LIMIT=0`), on a fresh database per case. "+
		"The user and token come from `domainflow token create`; each round creates a campaign of %s names through the API (the generated Go client) and starts it: "+
		"the names are resolved against an authoritative DNS server in the bench (%.0f%% resolve, the rest NXDOMAIN) at `dns.rate_limit_qps` %d, so the DNS phase would take about %s; "+
		"the engine writes progress once per DNS batch of %d names (about %s at that rate), and every figure here, the baseline too, includes one such batch. "+
		"Once the campaign's DNS results move and its step is running on the instance to be killed (River's `attempted_by`: with two instances each step, 5 s by default, goes to whichever fetches it first, so the bench waits for one of A's), that instance gets SIGKILL; "+
		"the API is then polled every %s (`GET …/domains/status` and `GET …/campaigns/{id}`) until `progress.processed` passes its value at the kill (read from the database once the process is gone); then the campaign is cancelled.\n\n",
		secs(t.Build), thousands(t.Names), t.Resolving, t.QPS, secs(time.Duration(float64(t.Names)/float64(t.QPS)*float64(time.Second))),
		t.Batch, secs(time.Duration(float64(t.Batch)/float64(t.QPS)*float64(time.Second))), takeoverPoll)
	fmt.Fprintln(w, "- *restart*: a new process started at once on the same address (so the same instance id), which gives back at start the steps its previous process left running; "+
		"*Kill → ready* is until its `/readyz` answers 200, and the polling goes through it.")
	fmt.Fprintf(w, "- *second instance*: instance B runs beside the one killed (A, a new process on an address of its own each round) on the same PostgreSQL database, and has heartbeated for more than %s; "+
		"the polling goes through B, which hands the campaigns of an instance silent for %s on and shows them `stalled_since` until an instance's step takes them over: "+
		"here B's own, at its next fetch of the queue, so the mark may last less than one poll and *stalled_since shown* counts the rounds whose polls caught it.\n", takeoverDeadAfter, takeoverDeadAfter)
	fmt.Fprintln(w, "- Baseline, measured in every round on the fresh campaign before the kill: from `POST …/start` to the first progress (the generated names) and to the first DNS result: how long a campaign takes to get going at all.")
	fmt.Fprintf(w, "- The previous measurement, before instances heartbeated (River rescuing the stuck step after its RescueAfter): %.0f s on a restart, %.0f s on a second instance.\n\n",
		prevTakeoverRestart.Seconds(), prevTakeoverPeer.Seconds())
	r.takeoverTable(w)
	fmt.Fprintln(w)
	r.takeoverRounds(w)
	var notes []string
	for _, c := range t.Cases {
		for i, rd := range c.Rounds {
			if (rd.TimedOut || rd.Takeover > c.goal()) && len(rd.Log) > 0 {
				notes = append(notes, fmt.Sprintf("- %s on %s, round %d (%s): the process that took over logged (seconds after the kill):\n  ```\n  %s\n  ```",
					c.Kind, c.DB, i+1, secs(rd.Takeover), strings.Join(rd.Log, "\n  ")))
			}
		}
		for _, n := range c.Notes {
			notes = append(notes, fmt.Sprintf("- %s on %s: %s", c.Kind, c.DB, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	fmt.Fprintln(w)
}

func (r *report) takeoverGoals() []string {
	t := r.Takeover
	if t == nil {
		return nil
	}
	var lines []string
	for _, g := range []struct {
		kind, what string
		goal, prev time.Duration
	}{
		{caseRestart, "when the instance restarts on its address", goalTakeoverRestart, prevTakeoverRestart},
		{casePeer, "on a second instance of the same PostgreSQL database", goalTakeoverPeer, prevTakeoverPeer},
	} {
		cs := t.cases(g.kind)
		if len(cs) == 0 {
			continue
		}
		ok := true
		var parts []string
		for _, c := range cs {
			timedOut := slicesAny(c.Rounds, func(r takeoverRound) bool { return r.TimedOut })
			ok = ok && !timedOut && c.maxTakeover() <= g.goal
			p := fmt.Sprintf("%s: max %s over %d rounds (p50 %s, against %s from start to the first DNS result on a fresh campaign)", c.DB, secs(c.maxTakeover()),
				len(c.Rounds), secs(durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.Takeover }), 0.5)),
				secs(durQuantile(c.durs(func(r takeoverRound) time.Duration { return r.StartDNS }), 0.5)))
			if timedOut {
				p = fmt.Sprintf("%s: no progress within %s of the kill", c.DB, secs(t.Limit))
			}
			if g.kind == casePeer {
				n := 0
				for _, r := range c.Rounds {
					if r.Stalled {
						n++
					}
				}
				p += fmt.Sprintf(", stalled_since shown in %d of %d", n, len(c.Rounds))
			}
			parts = append(parts, p)
		}
		lines = append(lines, fmt.Sprintf("- A campaign goes on within %s of `kill -9` of its instance %s, default settings: %s in this run — %s; the previous measurement was %.0f s.",
			secs(g.goal), g.what, verdict(ok), strings.Join(parts, "; "), g.prev.Seconds()))
	}
	return lines
}

// ---- hints ----

func (r *report) hintsTable(w io.Writer) {
	h := r.Hints
	fmt.Fprintln(w, "| Event | Writes committed | Every write → the client hears of it p50 | p99 | max | Arrived | Of a write's version | Its commit → client p50 / p99 | Ceiling: coalescing interval | Every-write p99 ÷ ceiling | Commit → bus (coalescing wait) p50 / p99 | Bus → client (pg_notify, LISTEN, socket) p50 / p99 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, l := range h.Types {
		p99 := l.q(l.PerWrite, 0.99)
		fmt.Fprintf(w, "| %s | %s | **%s** | **%s** | %s | %s | %s | %s / %s | %s | %.2f× | %s / %s | %s / %s |\n", l.Type, thousands(int64(h.Writes)),
			ms(l.q(l.PerWrite, 0.5)), ms(p99), ms(l.q(l.PerWrite, 1)),
			thousands(int64(l.Arrived)), thousands(int64(len(l.Lat))), ms(l.q(l.Lat, 0.5)), ms(l.q(l.Lat, 0.99)), ms(hintCoalesce),
			float64(p99)/float64(hintCoalesce), ms(l.q(l.Wait, 0.5)), ms(l.q(l.Wait, 0.99)), ms(l.q(l.Transport, 0.5)), ms(l.q(l.Transport, 0.99)))
	}
}

func (r *report) hintsMarkdown(w io.Writer) {
	h := r.Hints
	fmt.Fprintln(w, "## WebSocket hints: a write to the domains_changed that announces it")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "A campaign of %s names run by a real `engine.Engine` on a fresh PostgreSQL database (%.0f%% of names resolve, DNS at the default concurrency and `rate_limit_qps` %d, so the writes spread over %s), "+
		"its events published to a `realtime.Hub` with the event path `serve` gives it on PostgreSQL: coalescing every %s, then `pg_notify` on a `realtime.PostgresBus` and back through its LISTEN connection, "+
		"to one `coder/websocket` client on loopback, subscribed to the campaign before it starts. "+
		"The engine's store is the real `*store.DB` wrapped to note the time each `Record` and `InsertDomains` call returns, keyed by the version of the campaign it committed; "+
		"the client notes the time it reads each event and the `version` in its data. For every write: the time from its commit to the client's read of the first event of its version or a later one "+
		"(coalescing keeps only the latest version per interval, so a write whose own event was replaced is heard of by the next); and, for the versions that arrive, their own commit → read. "+
		"The hub's bus is wrapped too, to split the latency into the coalescing wait (commit → the hub hands the event to the bus) and the rest. "+
		"The ceiling is the coalescing interval, the wait the hub is designed to add at most (a hint waits for the next flush, so the wait is spread over 0 to one interval); "+
		"the bus and the socket come on top, and the goal allows for them as measured in the same run. "+
		"The earlier measurement, when the step loop emitted each batch's events one batch behind: p50 %s, p99 %s.\n\n",
		thousands(h.Names), h.Resolving, h.QPS, secs(h.Elapsed), hintCoalesce, secs(prevHintP50), secs(prevHintP99))
	r.hintsTable(w)
	fmt.Fprintln(w)
}

func (r *report) hintsGoals() []string {
	h := r.Hints
	if h == nil || len(h.Types) == 0 || len(h.Types[0].PerWrite) == 0 {
		return nil
	}
	// The hub holds a hint until its next flush (at most one interval);
	// pg_notify, LISTEN and the socket come on top, measured in the same
	// run. A hint held past a flush (a batch behind) breaks this.
	l := h.Types[0]
	p99, transport := l.q(l.PerWrite, 0.99), l.q(l.Transport, 0.99)
	return []string{fmt.Sprintf("- A subscribed client hears of every domain write (a domains_changed of its version or a later one) within one coalescing interval (%s), plus the bus's delivery "+
		"(p99 ≤ %s + the bus → client p99 of this run, %s): %s in this run — p50 %s, p99 %s, max %s over %d writes (%.2f× the interval at p99; the coalescing wait alone p99 %s, max %s); "+
		"the earlier measurement was p50 %s, p99 %s.",
		hintCoalesce, hintCoalesce, ms(transport), verdict(p99 <= hintCoalesce+transport), ms(l.q(l.PerWrite, 0.5)), ms(p99), ms(l.q(l.PerWrite, 1)), len(l.PerWrite),
		float64(p99)/float64(hintCoalesce), ms(l.q(l.Wait, 0.99)), ms(l.q(l.Wait, 1)), secs(prevHintP50), secs(prevHintP99))}
}
