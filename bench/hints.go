package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/realtime"
	"github.com/domainflow/domainflow/store"
)

// The hints section: from a write of the engine (store.Record,
// store.InsertDomains) committing to the domains_changed event that
// announces it reaching a subscribed WebSocket client.

// hintCoalesce is the hub's default CoalesceInterval: the designed bound
// of the wait.
const hintCoalesce = 250 * time.Millisecond

// The earlier measurement, while the step loop emitted each batch's events
// one batch behind.
const (
	prevHintP50 = 400 * time.Millisecond
	prevHintP99 = 2500 * time.Millisecond
)

type hintsReport struct {
	Names     int64
	QPS       int
	Resolving float64
	Elapsed   time.Duration
	Writes    int // versions committed by Record and InsertDomains
	Types     []*hintLatency
}

// hintLatency is the latency of one type of coalesced event.
type hintLatency struct {
	Type      domainflow.EventType
	Arrived   int             // messages of the type the client read
	Unmatched int             // of them, versions no Record or InsertDomains committed
	Lat       []time.Duration // commit → the client's read, for the versions that arrived
	// PerWrite is, for every version a domain write committed, the time
	// until the client read an event of that version or a later one: what a
	// client waits to hear of a write, the writes whose own event was
	// coalesced away included (Lat alone would leave out those that waited
	// longest).
	PerWrite  []time.Duration
	Wait      []time.Duration // commit → the hub handing it to the bus
	Transport []time.Duration // the bus → the client's read
}

func (h *hintLatency) q(ds []time.Duration, q float64) time.Duration { return durQuantile(ds, q) }

// commitLog notes when each campaign version was committed by the engine's
// writes that announce domains.
type commitLog struct {
	mu sync.Mutex
	at map[int64]time.Time
}

func (l *commitLog) note(c *domainflow.Campaign) {
	if c == nil {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.at[c.Version]; !ok {
		l.at[c.Version] = now
	}
}

func (l *commitLog) get(v int64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.at[v]
	return t, ok
}

// timedStore is the engine's store, noting when each write that the
// engine announces with domains_changed returned.
type timedStore struct {
	*store.DB
	log *commitLog
}

func (s timedStore) Record(ctx context.Context, userID, campaignID uuid.UUID, phase domainflow.Phase, outs []domainflow.DomainOutcome) (int64, *domainflow.Campaign, error) {
	n, c, err := s.DB.Record(ctx, userID, campaignID, phase, outs)
	if err == nil && n > 0 {
		s.log.note(c)
	}
	return n, c, err
}

func (s timedStore) InsertDomains(ctx context.Context, userID, campaignID uuid.UUID, domains []domainflow.Domain) (int64, *domainflow.Campaign, error) {
	n, c, err := s.DB.InsertDomains(ctx, userID, campaignID, domains)
	if err == nil && n > 0 {
		s.log.note(c)
	}
	return n, c, err
}

// timedBus is the hub's bus, noting when the hub handed each coalesced
// event to it (the end of the coalescing wait).
type timedBus struct {
	realtime.Bus
	mu sync.Mutex
	at map[hintKey]time.Time
}

type hintKey struct {
	typ     domainflow.EventType
	version int64
}

func (b *timedBus) Publish(ev domainflow.Event) error {
	now := time.Now()
	if ev.Type.Coalesced() {
		if raw, ok := ev.Data.(json.RawMessage); ok {
			var d struct {
				Version int64 `json:"version"`
			}
			if json.Unmarshal(raw, &d) == nil {
				b.mu.Lock()
				k := hintKey{ev.Type, d.Version}
				if _, ok := b.at[k]; !ok {
					b.at[k] = now
				}
				b.mu.Unlock()
			}
		}
	}
	return b.Bus.Publish(ev)
}

func (b *timedBus) get(k hintKey) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.at[k]
	return t, ok
}

// hintArrival is one coalesced event read by the client.
type hintArrival struct {
	T       time.Time
	Type    domainflow.EventType
	Version int64
}

func runHints(ctx context.Context, o options, rep *report) (err error) {
	h := &hintsReport{Names: o.hintsNames, QPS: o.hintsQPS, Resolving: 2}
	rep.Hints = h
	peers, err := startPeers(h.Resolving)
	if err != nil {
		return err
	}
	defer peers.stop()
	t, err := openTarget(ctx, o, store.Postgres, true)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	cfg := peers.config(o, h.Names)
	cfg.DNS.Concurrency = defaultDNSConcurrency
	cfg.DNS.RateLimitQPS = o.hintsQPS
	c, err := t.draftCampaign(ctx, "hints", cfg)
	if err != nil {
		return err
	}
	user := t.user.ID

	// The hub with the event path serve gives it on PostgreSQL: events go through
	// pg_notify and come back to the hub that LISTENs.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pgBus, err := realtime.NewPostgresBus(ctx, t.url, quiet)
	if err != nil {
		return fmt.Errorf("listen for events: %w", err)
	}
	defer pgBus.Close()
	bus := &timedBus{Bus: pgBus, at: map[hintKey]time.Time{}}
	hub := realtime.NewHub(realtime.Config{
		Logger: quiet, Bus: bus, CoalesceInterval: hintCoalesce,
		Authenticate: func(_ context.Context, token string) (domainflow.Access, error) {
			if token == "hints" {
				return domainflow.Access{UserID: user, TokenID: benchTokenID(token)}, nil
			}
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "bad token")
		},
		CampaignOwned: t.db.GetCampaign,
	})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, closeAll, err := subscribedClient(cctx, hub, "hints", c.ID)
	if err != nil {
		return err
	}
	defer closeAll()
	var arrivals []hintArrival
	completed := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := conn.Read(cctx)
			if err != nil {
				return
			}
			now := time.Now()
			var m wsMsg
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			if m.Type.Coalesced() {
				arrivals = append(arrivals, hintArrival{T: now, Type: m.Type, Version: m.Data.Version})
			}
			if m.Type == domainflow.EventCampaignCompleted {
				close(completed)
				return
			}
		}
	}()

	commits := &commitLog{at: map[int64]time.Time{}}
	logf("hints: a campaign of %d names on PostgreSQL, DNS at %d queries/s, one WebSocket client subscribed through the PostgreSQL bus", h.Names, h.QPS)
	t0 := time.Now()
	publish := func(ev domainflow.Event) {
		if err := hub.Publish(ev); err != nil {
			logf("hints: publish %s: %v", ev.Type, err)
		}
	}
	if _, _, _, err := runEngineCampaign(ctx, t.db, t.url, user, c.ID, engineRunOpts{
		Timeout: o.phaseTimeout, Log: storeLogger(), Hook: publish, Store: timedStore{DB: t.db, log: commits}}); err != nil {
		return err
	}
	select {
	case <-completed:
	case <-time.After(10 * time.Second):
		cancel()
		<-readDone
		return fmt.Errorf("the client saw no campaign_completed within 10 s of the end (%d hints)", len(arrivals))
	}
	<-readDone
	h.Elapsed = time.Since(t0)
	conn.Close(websocket.StatusNormalClosure, "")

	commits.mu.Lock()
	h.Writes = len(commits.at)
	commits.mu.Unlock()
	for _, typ := range []domainflow.EventType{domainflow.EventDomainsChanged, domainflow.EventCampaignProgress} {
		l := &hintLatency{Type: typ}
		for _, a := range arrivals {
			if a.Type != typ {
				continue
			}
			l.Arrived++
			at, ok := commits.get(a.Version)
			if !ok {
				l.Unmatched++
				continue
			}
			l.Lat = append(l.Lat, a.T.Sub(at))
			if pub, ok := bus.get(hintKey{typ, a.Version}); ok {
				l.Wait = append(l.Wait, pub.Sub(at))
				l.Transport = append(l.Transport, a.T.Sub(pub))
			}
		}
		commits.mu.Lock()
		for v, at := range commits.at {
			for _, a := range arrivals {
				if a.Type == typ && a.Version >= v {
					l.PerWrite = append(l.PerWrite, a.T.Sub(at))
					break
				}
			}
		}
		commits.mu.Unlock()
		h.Types = append(h.Types, l)
		logf("hints: %s: %d arrived (%d of versions no domain write made), commit → client p50 %s, p99 %s, max %s; every write → the client hears of it p50 %s, p99 %s, max %s (coalescing interval %s)",
			typ, l.Arrived, l.Unmatched, ms(l.q(l.Lat, 0.5)), ms(l.q(l.Lat, 0.99)), ms(l.q(l.Lat, 1)),
			ms(l.q(l.PerWrite, 0.5)), ms(l.q(l.PerWrite, 0.99)), ms(l.q(l.PerWrite, 1)), hintCoalesce)
	}
	if dc := h.Types[0]; len(dc.Lat) == 0 {
		return fmt.Errorf("no domains_changed hint of a domain write reached the client (%d writes)", h.Writes)
	}
	return nil
}
