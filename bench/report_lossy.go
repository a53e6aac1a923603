package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report parts of the lossy section.

// wallText is a run's wall time; a stopped run's is a lower bound.
func (r *lossyRun) wallText() string {
	if r.Stopped {
		return "≥ " + secs(r.Wall)
	}
	return secs(r.Wall)
}

// paceText is, for a stopped run, what its pace would make of all n names.
func (r *lossyRun) paceText(n int64) string {
	if !r.Stopped {
		return ""
	}
	if p := r.projected(n); p > 0 {
		return fmt.Sprintf("stopped at %s of %s names; ~%s for all at that pace", thousands(r.Checked), thousands(n), secs(p.Round(time.Second)))
	}
	return fmt.Sprintf("stopped before it reported on any name (of %s)", thousands(n))
}

func (r *report) lossyTable(w io.Writer) {
	l := r.Lossy
	fmt.Fprintf(w, "| Loss | Round | Tool | Checked | Real domains found (of %s) | False negatives | of which not reached | False positives | Wall time | Queries at the server (dropped by design) | Kernel drops: server socket / other sockets | Notes |\n",
		thousands(l.Resolving))
	fmt.Fprintln(w, "|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, x := range l.Runs {
		label := x.label()
		if x.Tool == "DomainFlow" {
			label = "**" + label + "**"
		}
		note := x.paceText(l.Names)
		if x.Err != "" {
			note = strings.TrimPrefix(note+"; ", "; ") + "failed: " + x.Err
		}
		fmt.Fprintf(w, "| %g%% | %d | %s | %s | %s | **%s** | %s | %s | **%s** | %s (%s) | %s / %s | %s |\n", x.LossPct, x.Round, label,
			thousands(x.Checked), thousands(x.Found), thousands(x.FN), thousands(x.Unseen), thousands(x.FP), x.wallText(),
			thousands(x.Queries), thousands(x.Dropped), thousands(x.SockDrops), thousands(x.OtherDrops), note)
	}
	var sts []string
	for _, x := range l.Runs {
		if len(x.Statuses) > 0 {
			sts = append(sts, fmt.Sprintf("%g%% round %d on %s: %s", x.LossPct, x.Round, x.DB, strings.Join(sortedStatuses(x.Statuses), ", ")))
		}
	}
	if len(sts) > 0 {
		fmt.Fprintf(w, "\nDomainFlow's recorded DNS results (status/reason): %s.\n", strings.Join(sts, "; "))
	}
	for _, n := range l.Notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

func (r *report) lossyMarkdown(w io.Writer) {
	l := r.Lossy
	fmt.Fprintln(w, "## DNS over a lossy link")
	fmt.Fprintln(w)
	port := "port 53, because adns cannot be told another port"
	if !l.Port53 {
		port = "no loopback port 53 was free, so adnshost could not run"
	}
	var losses []string
	for _, x := range l.Losses {
		losses = append(losses, fmt.Sprintf("%g%%", x))
	}
	fmt.Fprintf(w, "A DNS server inside the bench on %s (UDP; %s) is authoritative for %s names `<4 of a-z0-9>shop.%s`: "+
		"%s of them (%.1f%%, chosen by a hash of the name) get an A record 127.0.0.1, the rest NXDOMAIN, and so does any name not on the list "+
		"(a random probe for a wildcard finds nothing). It drops %s of the queries: the k-th query of a run is never answered when the k-th number "+
		"of a SplitMix64 stream seeded with %d falls in the share, so every run meets the same sequence of drops. It drops nothing else: "+
		"it answers the others from one recvmmsg/sendmmsg loop (the same answers as the dns section's server), its socket has a %d MB receive buffer, "+
		"and the kernel's count of datagrams dropped at that socket during each run is in the table. Dropping nothing, it answers %s queries/s to the raw load loop (4 sockets × 64 in flight).\n\n",
		l.Addr, port, thousands(l.Names), lossyZone, thousands(l.Resolving), 100*float64(l.Resolving)/float64(l.Names), strings.Join(losses, " or "), l.Seed, l.RcvBuf>>20, rate(l.Capacity))
	d := l.DNS
	fmt.Fprintf(w, "**DomainFlow** runs a real campaign on a real `campaign.Engine` (one campaign worker, StepTime 5s) on a fresh database, SQLite and PostgreSQL in turn: "+
		"a generation config that produces exactly those names, DomainFlow's default settings everywhere else but for the resolver "+
		"(dns: timeout %d ms, retries %d, max_attempts %d, concurrency %d, rate limit %d). The bench cancels the campaign once its DNS phase is over (the HTTP phase is not measured). "+
		"Its wall time is the DNS phase's, from the `phase_transition` into dns to the one out of it; found = resolving names whose final `dns_result` status is ok, "+
		"false negatives = resolving names whose status is anything else (or that have none), false positives = ok for a name that does not resolve.\n\n",
		d.TimeoutMS, d.Retries, d.MaxAttempts, d.Concurrency, d.RateLimitQPS)
	fmt.Fprintln(w, "**Outside tools**, at their default settings, told only where the server is and which names to look up; their wall time is the whole process's, found = names they print an address for:")
	fmt.Fprintln(w)
	for _, t := range l.Tools {
		how := "already installed"
		if t.Installed {
			how = fmt.Sprintf("installed by the bench: `apt-get install -y --no-install-recommends %s`", t.Pkg)
		}
		if t.Err != "" {
			fmt.Fprintf(w, "- %s (Debian package %s): did not run — %s.\n", t.Name, t.Pkg, t.Err)
			continue
		}
		note := ""
		if t.CmdNote != "" {
			note = " (" + t.CmdNote + ")"
		}
		fmt.Fprintf(w, "- %s — `%s`, Debian package %s %s, %s: `%s`%s. At its defaults it %s.\n", t.Name, t.Version, t.Pkg, t.PkgVersion, how, t.Cmd, note, t.Behaviour)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Every run is stopped after %s (-lossy-limit): a tool's whole run, DomainFlow's DNS phase. A stopped run's wall time is a lower bound, "+
		"the names it never reported on count as false negatives (*not reached*; for gobuster, the words past its progress count; for adnshost, the names it printed nothing for), and the notes project its pace over all the names. "+
		"For each loss rate the tools and DomainFlow alternate: adnshost, DomainFlow on SQLite, gobuster, DomainFlow on PostgreSQL, and the other way round in the next round; "+
		"%d of %d rounds ran (a round starts only while it fits the section's budget of %s). "+
		"Kernel drops at other sockets are the machine's UDP receive-buffer drops during the run less the server's: the tool's own sockets, mostly.\n\n",
		secs(l.Limit), l.Rounds, l.RoundsWanted, l.Budget)
	r.lossyTable(w)
	fmt.Fprintln(w)
}

// bound is a wall time, exact or a lower bound.
type bound struct {
	d     time.Duration
	lower bool
}

// timeVerdict compares DomainFlow's wall time with lossyTimeX × the faster
// tool's: 1 holds, -1 does not hold, 0 cannot be settled from the bounds.
func timeVerdict(df, tool bound) int {
	limit := lossyTimeX * float64(tool.d)
	switch {
	case !df.lower && float64(df.d) <= limit:
		return 1 // the tool's time is at least tool.d
	case !df.lower && !tool.lower:
		return -1
	case df.lower && !tool.lower && float64(df.d) > limit:
		return -1
	}
	return 0
}

func verdict3(v int) string {
	switch {
	case v > 0:
		return verdict(true)
	case v < 0:
		return verdict(false)
	}
	return "**not settled**"
}

func (r *report) lossyGoals() []string {
	l := r.Lossy
	if l == nil {
		return nil
	}
	var lines []string
	for _, db := range []string{"SQLite", "PostgreSQL"} {
		var fnParts, tParts []string
		fnOK, anyRun := true, false
		tv := 1
		for _, loss := range l.Losses {
			var fns, ts []string
			for _, x := range l.Runs {
				if x.Tool != "DomainFlow" || x.DB != db || x.LossPct != loss {
					continue
				}
				anyRun = true
				if x.Err != "" {
					fnOK, tv = false, min(tv, 0)
					fns = append(fns, fmt.Sprintf("round %d failed", x.Round))
					continue
				}
				fnOK = fnOK && x.FN == 0
				s := fmt.Sprintf("%s missed in round %d", thousands(x.FN), x.Round)
				if x.Unseen > 0 {
					s += fmt.Sprintf(" (%s of them not reached)", thousands(x.Unseen))
				}
				fns = append(fns, s)

				// The faster tool of the same round and loss rate.
				var best *lossyRun
				for _, y := range l.Runs {
					if y.Tool == "DomainFlow" || y.Round != x.Round || y.LossPct != loss || y.Err != "" {
						continue
					}
					if best == nil || (best.Stopped && !y.Stopped) || (best.Stopped == y.Stopped && y.Wall < best.Wall) {
						best = y
					}
				}
				if best == nil {
					tv = min(tv, 0)
					ts = append(ts, fmt.Sprintf("round %d: %s, no outside tool ran", x.Round, x.wallText()))
					continue
				}
				v := timeVerdict(bound{x.Wall, x.Stopped}, bound{best.Wall, best.Stopped})
				tv = min(tv, v)
				dfs, bs := x.wallText(), best.wallText()
				if p := x.paceText(l.Names); p != "" {
					dfs += " (" + p + ")"
				}
				if p := best.paceText(l.Names); p != "" {
					bs += " (" + p + ")"
				}
				ts = append(ts, fmt.Sprintf("round %d: %s against %s's %s", x.Round, dfs, best.Tool, bs))
			}
			if len(fns) > 0 {
				fnParts = append(fnParts, fmt.Sprintf("%g%% loss: %s", loss, strings.Join(fns, ", ")))
				tParts = append(tParts, fmt.Sprintf("%g%% loss, %s", loss, strings.Join(ts, "; ")))
			}
		}
		if !anyRun {
			continue
		}
		lines = append(lines, fmt.Sprintf("- %s on %s: %s in this run — of %s real domains, %s.", goalLossyFN, db, verdict(fnOK),
			thousands(l.Resolving), strings.Join(fnParts, "; ")))
		lines = append(lines, fmt.Sprintf("- %s on %s: %s in this run — %s.", goalLossyTime, db, verdict3(tv), strings.Join(tParts, "; ")))
	}
	return lines
}
