package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/engine"
	"github.com/domainflow/domainflow/netguard"
	"github.com/domainflow/domainflow/store"
)

// evRec is one engine event as the bench keeps it (and as the memory
// section's child process prints it, one JSON object a line).
type evRec struct {
	T       time.Time                 `json:"t"`
	Type    string                    `json:"type"`
	From    domainflow.Phase          `json:"from,omitempty"`
	To      domainflow.Phase          `json:"to,omitempty"`
	Phase   domainflow.Phase          `json:"phase,omitempty"`
	Status  domainflow.CampaignStatus `json:"status,omitempty"`
	Counts  domainflow.Counts         `json:"counts"`
	Message string                    `json:"message,omitempty"`

	// Child process only: its memory at the time.
	RSSKB int64 `json:"rss_kb,omitempty"`
	HWMKB int64 `json:"hwm_kb,omitempty"`
	Heap  any   `json:"heap,omitempty"`
}

// engineStepTime is the engine's StepTime for every bench campaign.
const engineStepTime = 5 * time.Second

// guardNetworks is where the bench's DNS and web servers are: the outbound
// guard refuses it unless opened.
var guardNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// guardLoopback has a dnscheck.Resolver ask the bench's DNS servers.
var guardLoopback = dnscheck.WithGuard(netguard.New(guardNetworks))

// runEngineCampaign runs the draft campaign id with a real engine.Engine
// (one campaign worker, StepTime 5s) until it completes: it starts the
// engine, starts the campaign (db.Transition) and enqueues it, as the API
// does. onEvent, when set, sees each event as it happens (on the engine's
// goroutine: it must be quick). It returns the events and the campaign as
// it ended.
func runEngineCampaign(ctx context.Context, db *store.DB, dbURL string, userID, id uuid.UUID, ro engineRunOpts) (_ []evRec, _ *domainflow.Campaign, stopped bool, _ error) {
	var (
		mu       sync.Mutex
		evs      []evRec
		done     = make(chan struct{})
		closed   bool
		dnsStart time.Time
		dnsEnd   time.Time // the move out of the DNS phase
	)
	events := func(ev domainflow.Event) {
		r, ok := recordEvent(ev)
		if !ok {
			if ro.Hook != nil {
				ro.Hook(ev)
			}
			return
		}
		mu.Lock()
		evs = append(evs, r)
		if r.Type == "phase_transition" && r.To == domainflow.PhaseDNS {
			dnsStart = r.T
		}
		if r.Type == "phase_transition" && r.From == domainflow.PhaseDNS {
			dnsEnd = r.T
		}
		if r.Type == "campaign_completed" && !closed {
			closed = true
			close(done)
		}
		mu.Unlock()
		if ro.OnEvent != nil {
			ro.OnEvent(r)
		}
		if ro.Hook != nil {
			ro.Hook(ev)
		}
	}
	var st engine.Store = db
	if ro.Store != nil {
		st = ro.Store
	}
	eng, err := engine.New(ctx, engine.Config{Store: st, DatabaseURL: dbURL, Logger: ro.Log,
		StepTime: engineStepTime, Campaigns: 1, Events: events, AllowedNetworks: guardNetworks,
		InstanceID: "bench/" + uuid.NewString()}) // a new instance each run: nothing of an earlier one to resume
	if err != nil {
		return nil, nil, false, fmt.Errorf("engine: %w", err)
	}
	if err := eng.Start(ctx); err != nil {
		return nil, nil, false, fmt.Errorf("start the engine: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			logf("engine stop: %v", err)
		}
	}()

	if _, err := eng.Act(ctx, userID, id, domainflow.ActionStart); err != nil {
		return nil, nil, false, fmt.Errorf("start the campaign: %w", err)
	}
	snapshot := func() []evRec {
		mu.Lock()
		defer mu.Unlock()
		return append([]evRec(nil), evs...)
	}
	timer := time.NewTimer(ro.Timeout)
	defer timer.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var final *domainflow.Campaign
	var polls int
	var afterDNS bool // cancelled once its DNS phase was over (ro.StopAfterDNS)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			mu.Lock()
			inDNS, pastDNS := dnsStart, dnsEnd
			mu.Unlock()
			if ro.StopAfterDNS && !afterDNS && !stopped && !pastDNS.IsZero() {
				logf("  the DNS phase is over: cancelling the campaign")
				if err := cancelCampaign(ctx, db, userID, id); err != nil {
					return snapshot(), nil, false, err
				}
				afterDNS = true
			}
			if ro.DNSLimit > 0 && !stopped && !afterDNS && pastDNS.IsZero() && !inDNS.IsZero() && time.Since(inDNS) > ro.DNSLimit {
				// Bounded run: cancel the campaign; the batch in flight
				// is still recorded, then the engine lets it go.
				logf("  the DNS phase has run %s: cancelling the campaign", ro.DNSLimit)
				if err := cancelCampaign(ctx, db, userID, id); err != nil {
					return snapshot(), nil, false, err
				}
				stopped = true
			}
			// A campaign that fails ends without campaign_completed when its
			// failure cannot be recorded; look at it now and then.
			if polls++; polls%4 == 0 || stopped || afterDNS {
				cur, err := db.GetCampaign(ctx, userID, id)
				if err == nil && cur.Status.Ended() {
					if stopped || afterDNS {
						// Let the engine finish recording its last batch.
						sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						eng.Stop(sctx)
						cancel()
					}
					break wait
				}
			}
		case <-timer.C:
			cur, _ := db.GetCampaign(ctx, userID, id)
			if cur != nil {
				return snapshot(), cur, false, fmt.Errorf("the campaign did not complete within %s (status %s, phase %s, generated %d, dns %d, http %d)",
					ro.Timeout, cur.Status, cur.CurrentPhase, cur.Counts.Generated, cur.Counts.DNSOK+cur.Counts.DNSFailed, cur.Counts.HTTPOK+cur.Counts.HTTPFailed)
			}
			return snapshot(), nil, false, fmt.Errorf("the campaign did not complete within %s", ro.Timeout)
		case <-ctx.Done():
			return snapshot(), nil, false, ctx.Err()
		}
	}
	final, err = db.GetCampaign(ctx, userID, id)
	if err != nil {
		return snapshot(), nil, stopped, err
	}
	out := snapshot()
	switch {
	case stopped && final.Status == domainflow.StatusCancelled:
		return out, final, true, nil
	case afterDNS && final.Status == domainflow.StatusCancelled:
		return out, final, false, nil
	case final.Status != domainflow.StatusCompleted:
		return out, final, stopped, fmt.Errorf("the campaign ended %s: %s", final.Status, final.Error)
	}
	return out, final, stopped, nil
}

// engineRunOpts are runEngineCampaign's settings.
type engineRunOpts struct {
	Timeout time.Duration // give up (an error) after this long
	// DNSLimit, when set, cancels the campaign once its DNS phase has run
	// this long: the run is then reported as stopped, not failed.
	DNSLimit time.Duration
	// StopAfterDNS cancels the campaign as soon as its DNS phase is over:
	// for a run that measures DNS alone (the campaign then ends cancelled,
	// and that is not an error).
	StopAfterDNS bool
	Log          *slog.Logger
	OnEvent      func(evRec)
	// Hook, when set, sees the engine's event itself, after OnEvent (the
	// websocket section feeds a realtime.Hub with it).
	Hook func(domainflow.Event)
	// Store, when set, is the engine's store instead of db (db itself
	// wrapped: the hints section notes when writes return).
	Store engine.Store
}

// recordEvent keeps what the bench needs of an engine event; ok is false
// for the ones it does not follow (domains_changed, proxies).
func recordEvent(ev domainflow.Event) (r evRec, ok bool) {
	r = evRec{T: time.Now(), Type: string(ev.Type)}
	progress := func(p domainflow.CampaignProgressData) {
		if p.CurrentPhase != nil {
			r.Phase = *p.CurrentPhase
		}
		r.Status = p.Status
		r.Counts = domainflow.Counts{Generated: p.Generated, Validated: p.Overall.Validated, Failed: p.Overall.Failed,
			DNSOK: p.DNS.Validated, DNSFailed: p.DNS.Failed, HTTPOK: p.HTTP.Validated, HTTPFailed: p.HTTP.Failed,
			LeadMatch: p.Analysis.Validated, LeadNoMatch: p.Analysis.Failed}
		if p.HTTP.Skipped != nil {
			r.Counts.HTTPSkipped = *p.HTTP.Skipped
		}
	}
	switch d := ev.Data.(type) {
	case domainflow.CampaignProgressData:
		progress(d)
	case domainflow.CampaignCompletedData:
		progress(d.Totals)
	case domainflow.PhaseTransitionData:
		if d.From != nil {
			r.From = *d.From
		}
		r.To = d.To
	case domainflow.ErrorEventData:
		r.Message = d.Message
	default:
		return r, false
	}
	return r, true
}

// phaseSpan is one phase of a campaign as the engine's events show it.
type phaseSpan struct {
	Phase      domainflow.Phase
	Start, End time.Time
	Items      int64 // names the phase processed
}

func (p phaseSpan) dur() time.Duration { return p.End.Sub(p.Start) }
func (p phaseSpan) rate() float64 {
	if p.dur() <= 0 {
		return 0
	}
	return float64(p.Items) / p.dur().Seconds()
}

// phases returns the campaign's phases: each starts at its phase_transition
// event and ends at the next one (the last at campaign_completed).
func phases(evs []evRec, final *domainflow.Campaign) []phaseSpan {
	var out []phaseSpan
	for _, e := range evs {
		switch e.Type {
		case "phase_transition":
			if n := len(out); n > 0 && out[n-1].End.IsZero() {
				out[n-1].End = e.T
			}
			out = append(out, phaseSpan{Phase: e.To, Start: e.T})
		case "campaign_completed":
			if n := len(out); n > 0 && out[n-1].End.IsZero() {
				out[n-1].End = e.T
			}
		}
	}
	if final != nil {
		c := final.Counts
		for i := range out {
			switch out[i].Phase {
			case domainflow.PhaseGeneration:
				out[i].Items = c.Generated
			case domainflow.PhaseDNS:
				out[i].Items = c.DNSOK + c.DNSFailed
			case domainflow.PhaseHTTP:
				out[i].Items = c.HTTPOK + c.HTTPFailed
			case domainflow.PhaseAnalysis:
				// Names failed by DNS were scored "no match" in the DNS phase.
				out[i].Items = c.LeadMatch + c.LeadNoMatch - c.DNSFailed
			}
		}
	}
	return out
}

func findPhase(ps []phaseSpan, p domainflow.Phase) (phaseSpan, bool) {
	for _, s := range ps {
		if s.Phase == p {
			return s, !s.End.IsZero()
		}
	}
	return phaseSpan{}, false
}

// batchStat is one engine batch of the DNS phase: from the end of the
// previous batch (or the phase's start) to the campaign_progress event after
// its results were recorded.
type batchStat struct {
	Dur     time.Duration
	Names   int64
	Queries int           // queries the DNS server saw in the interval
	DNSSpan time.Duration // first to last query arrival in the interval
}

// dnsBatches splits the DNS phase into the engine's batches, and each batch
// into the span during which the server saw its queries and the rest
// (reading the work, recording the results, the step's bookkeeping).
func dnsBatches(evs []evRec, dnsPhase phaseSpan, arrivals []int64) []batchStat {
	var out []batchStat
	prevT, prevN := dnsPhase.Start, int64(0)
	for _, e := range evs {
		if e.Type != "campaign_progress" || e.T.Before(dnsPhase.Start) || e.T.After(dnsPhase.End) {
			continue
		}
		n := e.Counts.DNSOK + e.Counts.DNSFailed
		if n <= prevN {
			continue
		}
		b := batchStat{Dur: e.T.Sub(prevT), Names: n - prevN}
		lo, hi := prevT.UnixNano(), e.T.UnixNano()
		i, _ := slices.BinarySearch(arrivals, lo)
		j, _ := slices.BinarySearch(arrivals, hi)
		if j > i {
			b.Queries = j - i
			b.DNSSpan = time.Duration(arrivals[j-1] - arrivals[i])
		}
		out = append(out, b)
		prevT, prevN = e.T, n
	}
	return out
}

// cancelCampaign cancels the campaign, trying again for a while when the
// database is busy (SQLite: the engine's write transaction holds the lock
// longer than busy_timeout).
func cancelCampaign(ctx context.Context, db *store.DB, userID, id uuid.UUID) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := db.Transition(ctx, userID, id, domainflow.ActionCancel)
		switch {
		case err == nil:
			return nil
		case domainflow.ErrorCode(err) == domainflow.ECONFLICT:
			return nil // it ended meanwhile
		case time.Now().After(deadline) || ctx.Err() != nil:
			return fmt.Errorf("cancel the campaign: %w", err)
		}
		logf("  cancel: %v; trying again", err)
		time.Sleep(250 * time.Millisecond)
	}
}
