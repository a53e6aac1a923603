package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/domainflow/domainflow/httpcheck"
)

// Report part of the bodies section.

// goalBodiesRSS is the bodies section's ceiling on the bomb campaign's peak RSS.
const goalBodiesRSS = 200 << 10 // kB

func (b *bodiesReport) goal() string {
	return fmt.Sprintf("a campaign of %s-byte gzip bombs at http.concurrency %d keeps the engine's process under %s",
		thousands(b.BombBytes), b.Concurrency, mb(goalBodiesRSS))
}

// medianKB is the median of the runs' figure f.
func medianKB(runs []bodyRun, f func(bodyRun) int64) int64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = float64(f(r))
	}
	return int64(floatQuantile(xs, 0.5) + 0.5)
}

func maxKB(runs []bodyRun, f func(bodyRun) int64) int64 {
	var m int64
	for _, r := range runs {
		m = max(m, f(r))
	}
	return m
}

func medianDur(runs []bodyRun, f func(bodyRun) time.Duration) time.Duration {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = f(r)
	}
	return durQuantile(ds, 0.5)
}

func (r *report) bodiesTable(w io.Writer) {
	b := r.Bodies
	fmt.Fprintln(w, "| Pages | Runs | RSS idle (p50) | Peak RSS p50 | Peak RSS max | HTTP phase p50 | Names/s | Wrong results |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, kind := range []string{"small", "bomb"} {
		runs := b.of(kind)
		if len(runs) == 0 {
			continue
		}
		label := "small page (baseline)"
		if kind == "bomb" {
			label = fmt.Sprintf("gzip bomb (%s B gunzipped, %s B on the wire)", thousands(b.BombBytes), thousands(b.BombWire))
		}
		httpP50 := medianDur(runs, func(r bodyRun) time.Duration { return r.HTTP })
		perSec := "—"
		if httpP50 > 0 {
			perSec = rate(float64(b.Names) / httpP50.Seconds())
		}
		wrong := 0
		for _, r := range runs {
			wrong += len(r.Bad)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %d |\n", label, len(runs),
			mb(medianKB(runs, func(r bodyRun) int64 { return r.StartRSSKB })),
			mb(medianKB(runs, func(r bodyRun) int64 { return r.PeakRSSKB })),
			mb(maxKB(runs, func(r bodyRun) int64 { return r.PeakRSSKB })), secs(httpP50), perSec, wrong)
	}
	small, bomb := b.of("small"), b.of("bomb")
	if len(small) > 0 && len(bomb) > 0 {
		s := medianKB(small, func(r bodyRun) int64 { return r.PeakRSSKB })
		g := medianKB(bomb, func(r bodyRun) int64 { return r.PeakRSSKB })
		fmt.Fprintf(w, "\nThe bombs cost %s of peak RSS over the small pages (p50 against p50, %.2f×).\n", mb(g-s), float64(g)/float64(max(s, 1)))
	}
	if i := slices.IndexFunc(bomb, func(r bodyRun) bool { return r.Heap != nil }); i >= 0 {
		h := bomb[i].Heap
		fmt.Fprintf(w, "\nA bomb run's Go runtime at its end: Sys %s, HeapSys %s, HeapInuse %s, %d GCs (%s of pauses).\n",
			mb(int64(h.Sys/1024)), mb(int64(h.HeapSys/1024)), mb(int64(h.HeapInuse/1024)), h.NumGC, h.PauseTotal.Round(time.Millisecond))
	}
}

func (r *report) bodiesMarkdown(w io.Writer) {
	b := r.Bodies
	fmt.Fprintln(w, "## Memory of HTTP checks: gzip bombs")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "A campaign of %s names on PostgreSQL (a fresh database each run), every name resolving, run by a real engine in a child process as in the memory section, "+
		"with http.concurrency %d and max_body_bytes %s (the spec's maximum). The web server, in the bench process, answers each name either with a small page (the baseline) "+
		"or with a gzip bomb: %s bytes of HTML once gunzipped (a title and a keyword first, filler, a second keyword past max_body_bytes), %s bytes on the wire, sent gzipped whatever the request accepts. "+
		"The engine runs with its default HTTP body budget (%s: what every check of the instance may hold for pages at once). "+
		"The child's VmRSS is sampled every 100 ms and its VmHWM read at its exit; *RSS idle* is the child's before its engine starts. "+
		"Runs alternate between the two kinds of page (either one first, in turn); every result is checked (status 200, the title, the keywords: both on the small page, only the first on the bomb, read up to max_body_bytes and marked truncated).\n\n",
		thousands(b.Names), b.Concurrency, thousands(b.MaxBody), thousands(b.BombBytes), thousands(b.BombWire), mb(httpcheck.DefaultBodyBudget>>10))
	r.bodiesTable(w)
	fmt.Fprintln(w)
}

func (r *report) bodiesGoals() []string {
	b := r.Bodies
	if b == nil || len(b.of("bomb")) == 0 {
		return nil
	}
	bomb, small := b.of("bomb"), b.of("small")
	peak := maxKB(bomb, func(r bodyRun) int64 { return r.PeakRSSKB })
	wrong := 0
	for _, r := range bomb {
		wrong += len(r.Bad)
	}
	line := fmt.Sprintf("- %s, every result right: %s in this run — peak %s at most over %d runs (p50 %s), %d wrong results", b.goal(),
		verdict(peak < goalBodiesRSS && wrong == 0), mb(peak), len(bomb), mb(medianKB(bomb, func(r bodyRun) int64 { return r.PeakRSSKB })), wrong)
	if len(small) > 0 {
		line += fmt.Sprintf(", against %s with small pages", mb(medianKB(small, func(r bodyRun) int64 { return r.PeakRSSKB })))
	}
	return []string{line + "."}
}
