package dnscheck

import (
	"sync"
	"time"

	"github.com/domainflow/domainflow"
)

// This file keeps what a Resolver knows of each of its upstreams: how long
// they take to answer (so that a lost datagram is sent again after a few
// round trips, not after the whole timeout), what they answered (the
// campaign's resolver figures), and whether they are in rotation — an
// upstream whose tries keep failing is demoted, so that a dead resolver
// beside a live one slows nothing, and probed now and then with live
// traffic until it answers again.

const (
	// minRTO and initialRTO bound the resend delay: never below a few
	// scheduler hiccups, and before any reply a guess that suits resolvers
	// near and far.
	minRTO     = 20 * time.Millisecond
	initialRTO = 250 * time.Millisecond

	// A demotion needs healthWindow recent tries of which at least
	// demoteShare failed (timeouts, errors; not NXDOMAIN, a fine answer).
	healthWindow = 40
	demoteShare  = 0.8
	// probeEvery is how often a demoted upstream gets one try of live
	// traffic to show it answers again.
	probeEvery = 2 * time.Second
)

// tryKind is what one try against an upstream came to, for its figures.
type tryKind int

const (
	tryAnswer   tryKind = iota // addresses or no data
	tryNXDomain                // the name does not exist
	tryTimeout                 // no reply
	tryError                   // SERVFAIL, REFUSED, network errors, malformed replies
)

// health is an upstream's state; its mutex is held only to update it.
type health struct {
	mu sync.Mutex

	// Round-trip estimate (RFC 6298), from tries answered at the first send.
	srtt, rttvar time.Duration
	sampled      bool

	stats domainflow.ResolverStats // since the last take

	window    [healthWindow]bool // true: the try failed
	windowLen int
	windowPos int
	failures  int

	demoted   bool
	demotedAt time.Time
	nextProbe time.Time
	lastError string
}

// rto is the delay before a query is sent again, at most timeout.
func (h *health) rto(timeout time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := initialRTO
	if h.sampled {
		d = h.srtt + 4*h.rttvar
	}
	return min(max(d, minRTO), timeout)
}

// stateChange is an upstream that left or rejoined the rotation.
type stateChange struct {
	demoted bool
	reason  string
}

// record counts one try of sends queries that came to kind after latency
// and reports a change of the upstream's state. reason is the failure's
// text.
func (h *health) record(kind tryKind, sends int, latency time.Duration, reason string, now time.Time) *stateChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Queries += int64(sends)
	failed := false
	switch kind {
	case tryAnswer, tryNXDomain:
		if kind == tryAnswer {
			h.stats.Answers++
		} else {
			h.stats.NXDomain++
		}
		h.stats.ObserveLatency(float64(latency.Nanoseconds()) / 1e6)
		if sends == 1 { // Karn: a resent query's reply says nothing of the RTT
			if !h.sampled {
				h.srtt, h.rttvar, h.sampled = latency, latency/2, true
			} else {
				diff := h.srtt - latency
				if diff < 0 {
					diff = -diff
				}
				h.rttvar = (3*h.rttvar + diff) / 4
				h.srtt = (7*h.srtt + latency) / 8
			}
		}
	case tryTimeout:
		h.stats.Timeouts++
		failed = true
	case tryError:
		h.stats.Errors++
		failed = true
	}
	if failed {
		h.lastError = reason
		h.stats.LastError = reason
	}

	if h.windowLen == healthWindow && h.window[h.windowPos] {
		h.failures--
	}
	h.window[h.windowPos] = failed
	if failed {
		h.failures++
	}
	h.windowPos = (h.windowPos + 1) % healthWindow
	h.windowLen = min(h.windowLen+1, healthWindow)

	switch {
	case !h.demoted && h.windowLen == healthWindow && float64(h.failures) >= demoteShare*healthWindow:
		h.demote(now)
		return &stateChange{demoted: true, reason: h.lastError}
	case h.demoted && !failed:
		h.demoted = false
		h.windowLen, h.windowPos, h.failures = 0, 0, 0
		return &stateChange{demoted: false}
	}
	return nil
}

func (h *health) demote(now time.Time) {
	h.demoted, h.demotedAt, h.nextProbe = true, now, now.Add(probeEvery)
}

// usable reports whether the upstream may take a try now: it is in
// rotation, or demoted and due a probe (which this call claims).
func (h *health) usable(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.demoted {
		return true
	}
	if now.Before(h.nextProbe) {
		return false
	}
	h.nextProbe = now.Add(probeEvery)
	return true
}

// take returns the figures since the last take, with the state as it is.
func (h *health) take(addr string) domainflow.ResolverStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	h.stats = domainflow.ResolverStats{}
	s.Address, s.State = addr, domainflow.ResolverActive
	if h.demoted {
		at := h.demotedAt.UTC()
		s.State, s.DemotedAt = domainflow.ResolverDemoted, &at
	}
	return s
}
