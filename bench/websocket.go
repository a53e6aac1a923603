package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/realtime"
	"github.com/domainflow/domainflow/store"
)

// subscribedClient serves hub on loopback and opens a WebSocket to it with
// the token, subscribed to the campaign; closeAll ends the connection, the
// server and the hub.
func subscribedClient(ctx context.Context, hub *realtime.Hub, token string, campaign uuid.UUID) (_ *websocket.Conn, closeAll func(), _ error) {
	hs := httptest.NewServer(hub)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		hs.Close()
		hub.Close()
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	closeAll = func() {
		conn.CloseNow()
		hub.Close()
		hs.Close()
	}
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "campaign_id": campaign})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		closeAll()
		return nil, nil, err
	}
	return conn, closeAll, nil
}

// benchTokenID is the id a bench hub gives a token: one per token text.
func benchTokenID(token string) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(token)) }

// The websocket section's goals.
const (
	goalWSVolume = "WebSocket messages of a campaign ≥ 99.9% fewer than per-domain streaming would send"
	goalWSDrops  = "no client dropped as too slow with 1,000 clients and 100 campaigns publishing every 100 ms"
)

type wsReport struct {
	Users, PerUser, Campaigns int
	PublishEvery              time.Duration
	Coalesce                  time.Duration
	Window                    time.Duration
	DialTime                  time.Duration
	Published                 int64 // Publish calls in the window
	Delivered                 int64 // campaign_progress messages read by the clients in the window
	Expected                  float64
	Latencies                 []time.Duration
	HubSent                   uint64 // the hub's campaign_progress counter over the window
	Drops                     uint64
	CPU                       time.Duration // whole process, user+sys, over the window
	NoFile                    uint64

	Volume *wsVolume
}

// wsVolume is one engine campaign watched by one WebSocket client.
type wsVolume struct {
	DB        string
	Names     int64
	Counts    domainflow.Counts
	Elapsed   time.Duration
	ByType    map[domainflow.EventType]int64
	Received  int64
	PerDomain int64 // what per-domain streaming would have sent
}

func (v *wsVolume) reduction() float64 { return 1 - float64(v.Received)/float64(v.PerDomain) }

func (w *wsReport) rate() float64 { return float64(w.Delivered) / w.Window.Seconds() }

// cpuTime is the process's user+system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile raises the open-file soft limit to the hard limit.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			logf("websocket: raise RLIMIT_NOFILE: %v", err)
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// wsMsg is what the clients read of a message.
type wsMsg struct {
	Type domainflow.EventType `json:"type"`
	Data struct {
		Version int64 `json:"version"`
	} `json:"data"`
}

func runWebSocket(ctx context.Context, o options, rep *report) error {
	w := &wsReport{Users: 100, PerUser: 10, Campaigns: 100, PublishEvery: 100 * time.Millisecond,
		Coalesce: 250 * time.Millisecond, Window: o.wsWindow}
	rep.WS = w
	w.NoFile = raiseNoFile()
	if need := uint64(2*w.Users*w.PerUser + 200); w.NoFile < need {
		return fmt.Errorf("open-file limit %d, need about %d", w.NoFile, need)
	}
	if err := wsFanout(ctx, w); err != nil {
		return err
	}
	return wsEngineVolume(ctx, o, w)
}

// wsFanout: 100 users × 10 clients, 100 campaigns (one per user) publishing
// campaign_progress every 100 ms, the nanosecond publish time in the
// campaign's Version.
func wsFanout(ctx context.Context, w *wsReport) error {
	users := make([]uuid.UUID, w.Users)
	tokens := map[string]uuid.UUID{}
	camps := make([]*domainflow.Campaign, w.Campaigns)
	byID := map[uuid.UUID]*domainflow.Campaign{}
	for i := range users {
		users[i] = uuid.New()
		tokens[fmt.Sprintf("tok-%d", i)] = users[i]
	}
	phase := domainflow.PhaseDNS
	for i := range camps {
		c := &domainflow.Campaign{ID: uuid.New(), UserID: users[i%w.Users], Name: fmt.Sprintf("c%d", i),
			Status: domainflow.StatusRunning, CurrentPhase: phase, TotalDomains: 1_000_000}
		camps[i] = c
		byID[c.ID] = c
	}
	// Snapshot copies, so the publisher goroutines own the originals.
	snap := map[uuid.UUID][]*domainflow.Campaign{}
	for _, c := range camps {
		cc := *c
		snap[c.UserID] = append(snap[c.UserID], &cc)
	}
	hub := realtime.NewHub(realtime.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authenticate: func(_ context.Context, token string) (domainflow.Access, error) {
			if u, ok := tokens[token]; ok {
				return domainflow.Access{UserID: u, TokenID: benchTokenID(token)}, nil
			}
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "bad token")
		},
		CampaignOwned: func(_ context.Context, user, id uuid.UUID) (*domainflow.Campaign, error) {
			for _, c := range snap[user] {
				if c.ID == id {
					return c, nil
				}
			}
			return nil, domainflow.Errorf(domainflow.ENOTFOUND, "no campaign")
		},
		ActiveCampaigns: func(_ context.Context, user uuid.UUID) ([]*domainflow.Campaign, error) {
			return snap[user], nil
		},
		CoalesceInterval: w.Coalesce,
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http")

	var (
		measuring atomic.Bool
		startNS   atomic.Int64
		delivered atomic.Int64
		latMu     sync.Mutex
		lats      = make([]time.Duration, 0, 64_000)
	)
	cctx, cancelClients := context.WithCancel(ctx)
	defer cancelClients()
	var clients sync.WaitGroup
	conns := make([]*websocket.Conn, 0, w.Users*w.PerUser)
	var connMu sync.Mutex
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}

	logf("websocket: dialing %d clients (%d users × %d)", w.Users*w.PerUser, w.Users, w.PerUser)
	t0 := time.Now()
	sem := make(chan struct{}, 32)
	var dialErr atomic.Value
	var dials sync.WaitGroup
	for u := range w.Users {
		for range w.PerUser {
			sem <- struct{}{}
			dials.Go(func() {
				defer func() { <-sem }()
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				c, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{HTTPClient: hc,
					HTTPHeader: http.Header{"Authorization": {fmt.Sprintf("Bearer tok-%d", u)}}})
				if err != nil {
					dialErr.CompareAndSwap(nil, err)
					return
				}
				connMu.Lock()
				conns = append(conns, c)
				connMu.Unlock()
				clients.Go(func() {
					var local []time.Duration
					defer func() {
						latMu.Lock()
						lats = append(lats, local...)
						latMu.Unlock()
					}()
					for {
						_, b, err := c.Read(cctx)
						if err != nil {
							return
						}
						now := time.Now().UnixNano()
						if !measuring.Load() {
							continue
						}
						var m wsMsg
						if json.Unmarshal(b, &m) != nil || m.Type != domainflow.EventCampaignProgress || m.Data.Version < startNS.Load() {
							continue
						}
						delivered.Add(1)
						local = append(local, time.Duration(now-m.Data.Version))
					}
				})
			})
		}
	}
	dials.Wait()
	w.DialTime = time.Since(t0)
	if err, _ := dialErr.Load().(error); err != nil {
		cancelClients()
		closeAll(conns)
		clients.Wait()
		return fmt.Errorf("dial: %w", err)
	}
	logf("websocket: %d clients connected in %s", len(conns), w.DialTime.Round(time.Millisecond))

	// Publishers: one goroutine per campaign, each owning its campaign.
	pctx, stopPub := context.WithCancel(ctx)
	var published atomic.Int64
	var pubs sync.WaitGroup
	for _, c := range camps {
		pubs.Go(func() {
			time.Sleep(time.Duration(rand.Int64N(int64(w.PublishEvery))))
			tk := time.NewTicker(w.PublishEvery)
			defer tk.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-tk.C:
				}
				c.Counts.Generated += 500
				c.Version = time.Now().UnixNano()
				if err := hub.Publish(domainflow.ProgressEvent(c)); err != nil {
					logf("websocket: publish: %v", err)
					return
				}
				if measuring.Load() {
					published.Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // warm-up
	st0 := hub.Stats()
	cpu0 := cpuTime()
	startNS.Store(time.Now().UnixNano())
	measuring.Store(true)
	ws0 := time.Now()
	select {
	case <-time.After(w.Window):
	case <-ctx.Done():
	}
	measuring.Store(false)
	w.Window = time.Since(ws0)
	w.CPU = cpuTime() - cpu0
	st1 := hub.Stats()
	stopPub()
	pubs.Wait()
	if err := ctx.Err(); err != nil {
		cancelClients()
		closeAll(conns)
		clients.Wait()
		return err
	}
	w.Published = published.Load()
	w.Delivered = delivered.Load()
	w.HubSent = st1.MessagesByType[domainflow.EventCampaignProgress] - st0.MessagesByType[domainflow.EventCampaignProgress]
	w.Drops = st1.Drops
	w.Expected = float64(w.Campaigns*w.PerUser) * float64(time.Second) / float64(w.Coalesce)

	closeAll(conns)
	cancelClients()
	clients.Wait()
	w.Latencies = lats
	logf("websocket: %d messages in %s = %.0f/s (ceiling %.0f/s), latency p50 %s p99 %s, drops %d, CPU %s",
		w.Delivered, w.Window.Round(time.Millisecond), w.rate(), w.Expected, ms(durQuantile(lats, 0.5)), ms(durQuantile(lats, 0.99)), w.Drops, w.CPU)
	return nil
}

func closeAll(cs []*websocket.Conn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range cs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
	wg.Wait()
}

// wsEngineVolume runs a campaign with the real engine on PostgreSQL, its
// events fed to a Hub, and counts what one subscribed client receives.
func wsEngineVolume(ctx context.Context, o options, w *wsReport) (err error) {
	peers, err := startPeers(2)
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
	n := o.wsDomains
	c, err := t.draftCampaign(ctx, "websocket", peers.config(o, n))
	if err != nil {
		return err
	}
	user := t.user.ID
	hub := realtime.NewHub(realtime.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authenticate: func(_ context.Context, token string) (domainflow.Access, error) {
			if token == "engine" {
				return domainflow.Access{UserID: user, TokenID: benchTokenID(token)}, nil
			}
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "bad token")
		},
		CampaignOwned: func(ctx context.Context, u, id uuid.UUID) (*domainflow.Campaign, error) {
			return t.db.GetCampaign(ctx, u, id)
		},
	})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, closeAll, err := subscribedClient(cctx, hub, "engine", c.ID)
	if err != nil {
		return err
	}
	defer closeAll()
	v := &wsVolume{DB: dialectName(t.dialect), Names: n, ByType: map[domainflow.EventType]int64{}}
	completed := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := conn.Read(cctx)
			if err != nil {
				return
			}
			var m wsMsg
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			v.ByType[m.Type]++
			v.Received++
			if m.Type == domainflow.EventCampaignCompleted {
				close(completed)
				return
			}
		}
	}()
	logf("websocket: engine on %s: a campaign of %d names, the DNS server resolving 2%%, one client subscribed", v.DB, n)
	t0 := time.Now()
	publish := func(ev domainflow.Event) {
		if err := hub.Publish(ev); err != nil {
			logf("websocket: publish %s: %v", ev.Type, err)
		}
	}
	_, final, _, err := runEngineCampaign(ctx, t.db, t.url, user, c.ID, engineRunOpts{
		Timeout: o.phaseTimeout, Log: storeLogger(), Hook: publish})
	if err != nil {
		return err
	}
	select {
	case <-completed:
	case <-time.After(10 * time.Second):
		cancel()
		<-readDone
		return fmt.Errorf("the client saw no campaign_completed within 10 s of the end (%d messages)", v.Received)
	}
	<-readDone
	v.Elapsed = time.Since(t0)
	v.Counts = final.Counts
	v.PerDomain = final.Counts.Generated + final.Counts.DNSOK + final.Counts.DNSFailed + final.Counts.HTTPOK + final.Counts.HTTPFailed
	w.Volume = v
	conn.Close(websocket.StatusNormalClosure, "")
	logf("websocket: the client received %d messages %v; per-domain streaming: %d; reduction %.4f%%", v.Received, v.ByType, v.PerDomain, 100*v.reduction())
	return nil
}

// ---- report ----

func (r *report) wsTables(wr io.Writer) {
	w := r.WS
	if len(w.Latencies) > 0 || w.Delivered > 0 {
		fmt.Fprintln(wr, "| Clients | Campaigns publishing | Window | Publish calls | Delivered (clients' reads) | Messages/s | Ceiling: 10 clients × 100 campaigns × 4/s | Latency p50 / p99 (Publish → Read) | Coalesce interval | Drops | Process CPU | CPU per message |")
		fmt.Fprintln(wr, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		perMsg := time.Duration(0)
		if w.Delivered > 0 {
			perMsg = w.CPU / time.Duration(w.Delivered)
		}
		fmt.Fprintf(wr, "| %s (%d users × %d) | %d, every %s | %s | %s | %s | **%s** | %s/s | **%s / %s** | %s | **%d** | %s (%.0f%% of one core) | %.1f µs |\n",
			thousands(int64(w.Users*w.PerUser)), w.Users, w.PerUser, w.Campaigns, w.PublishEvery, secs(w.Window), thousands(w.Published), thousands(w.Delivered),
			rate(w.rate()), rate(w.Expected), ms(durQuantile(w.Latencies, 0.5)), ms(durQuantile(w.Latencies, 0.99)), w.Coalesce, w.Drops,
			secs(w.CPU), 100*w.CPU.Seconds()/w.Window.Seconds(), float64(perMsg.Nanoseconds())/1000)
	}
	if v := w.Volume; v != nil {
		fmt.Fprintln(wr)
		fmt.Fprintln(wr, "| Campaign (engine on "+v.DB+") | Generated | DNS results | HTTP results | Per-domain streaming would send | WebSocket messages received | By type | Reduction |")
		fmt.Fprintln(wr, "|---|--:|--:|--:|--:|--:|---|--:|")
		var types []string
		for _, t := range []domainflow.EventType{domainflow.EventCampaignProgress, domainflow.EventDomainsChanged, domainflow.EventPhaseTransition, domainflow.EventCampaignCompleted, domainflow.EventError} {
			if n := v.ByType[t]; n > 0 {
				types = append(types, fmt.Sprintf("%s %d", t, n))
			}
		}
		fmt.Fprintf(wr, "| %s names, 2%% resolving, %s | %s | %s | %s | %s | **%s** | %s | **%.3f%%** |\n", thousands(v.Names), secs(v.Elapsed),
			thousands(v.Counts.Generated), thousands(v.Counts.DNSOK+v.Counts.DNSFailed), thousands(v.Counts.HTTPOK+v.Counts.HTTPFailed),
			thousands(v.PerDomain), thousands(v.Received), strings.Join(types, ", "), 100*v.reduction())
	}
}

func (r *report) wsMarkdown(wr io.Writer) {
	w := r.WS
	fmt.Fprintln(wr, "## WebSocket: the realtime hub")
	fmt.Fprintln(wr)
	fmt.Fprintf(wr, "Fan-out: `realtime.NewHub` (default send buffer 64, coalescing every %s) served by `httptest.NewServer` on loopback; "+
		"%s clients (`coder/websocket` Dial, %d users × %d connections, open-file limit raised to %d) connected in %s. "+
		"%d simulated running campaigns, one per user, each publish `domainflow.ProgressEvent` every %s from its own goroutine, "+
		"with the publish time in nanoseconds in the campaign's `version` (the clients read it back from `data.version`). "+
		"No database: Authenticate, CampaignOwned and ActiveCampaigns are in-memory maps. 2 s of warm-up, then the window. "+
		"Latency is from the Publish call of the event delivered to the client's Read returning; coalescing holds an event until the next flush by design: what a flush sends is the latest publish, at most one publish interval old, so most of the latency is that wait and the coalescing interval bounds it. "+
		"The ceiling is what coalescing lets through: each campaign's progress at most %d times a second to each of its user's %d clients. "+
		"CPU is the whole process's (hub, publishers and the 1,000 clients) user+system time over the window (getrusage).\n\n",
		w.Coalesce, thousands(int64(w.Users*w.PerUser)), w.Users, w.PerUser, w.NoFile, w.DialTime.Round(time.Millisecond),
		w.Campaigns, w.PublishEvery, int(time.Second/w.Coalesce), w.PerUser)
	r.wsTables(wr)
	if w.Volume != nil {
		fmt.Fprintln(wr)
		fmt.Fprintf(wr, "Volume: a campaign of %s names run by a real `campaign.Engine` on a fresh PostgreSQL database, against the dns section's authoritative DNS server (2%% of names resolve, to 127.0.0.1, where a tiny page server answers HTTP). "+
			"The engine's Events hook feeds a `realtime.Hub` through the same mapping as `cmd/domainflow/events.go` (copied into the bench, as that is package main); "+
			"one client, connected and subscribed to the campaign before it starts, counts every message up to `campaign_completed`. "+
			"Per-domain streaming would have sent one message per generated domain, one per DNS result and one per HTTP result.\n", thousands(w.Volume.Names))
	}
	fmt.Fprintln(wr)
}

func (r *report) wsGoals() []string {
	w := r.WS
	if w == nil {
		return nil
	}
	var lines []string
	if w.Delivered > 0 {
		lines = append(lines, fmt.Sprintf("- %s: %s in this run — %d drops; %s messages/s delivered against a ceiling of %s/s, latency p50 %s, p99 %s (coalescing interval %s).",
			goalWSDrops, verdict(w.Drops == 0), w.Drops, rate(w.rate()), rate(w.Expected), ms(durQuantile(w.Latencies, 0.5)), ms(durQuantile(w.Latencies, 0.99)), w.Coalesce))
	}
	if v := w.Volume; v != nil {
		lines = append(lines, fmt.Sprintf("- %s: %s in this run — %s messages against %s = %.3f%% fewer.",
			goalWSVolume, verdict(v.reduction() >= 0.999), thousands(v.Received), thousands(v.PerDomain), 100*v.reduction()))
	}
	return lines
}
