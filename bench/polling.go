package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/proxycheck"
	"github.com/domainflow/domainflow/server"
	"github.com/domainflow/domainflow/store"
)

const goalPolling = "a 304 poll of a domain page costs at most one fifth of the 200 page (process CPU per request)"

// pollCase is one kind of request measured by the polling section.
type pollCase struct {
	Server   string // "real" (server.New on PostgreSQL) or "trivial" (a handler replaying the real answer)
	Endpoint string // "status" or "list"
	Cond     bool   // with If-None-Match: answered 304
	path     string
	etag     string

	Requests  int64
	Bytes     int64
	Elapsed   time.Duration
	CPU       time.Duration
	Latencies []time.Duration
}

func (p *pollCase) rate() float64         { return float64(p.Requests) / p.Elapsed.Seconds() }
func (p *pollCase) cpuPer() time.Duration { return p.CPU / time.Duration(max(1, p.Requests)) }
func (p *pollCase) name() string {
	if p.Cond {
		return "304 (If-None-Match)"
	}
	return "200 (no If-None-Match)"
}

type pollReport struct {
	Domains    int64
	Clients    int
	Rounds     int
	Round      time.Duration
	BodyStatus int
	BodyList   int
	Cases      []*pollCase
}

func (r *pollReport) find(srv, ep string, cond bool) *pollCase {
	for _, c := range r.Cases {
		if c.Server == srv && c.Endpoint == ep && c.Cond == cond {
			return c
		}
	}
	return nil
}

func runPolling(ctx context.Context, o options, rep *report) (err error) {
	pr := &pollReport{Domains: o.pollDomains, Clients: o.pollClients, Rounds: o.pollRounds, Round: o.pollRound}
	t, err := openTarget(ctx, o, store.Postgres, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	token, err := t.db.CreateToken(ctx, t.user.ID)
	if err != nil {
		return err
	}
	cfg := benchConfig(pr.Domains)
	c, err := t.draftCampaign(ctx, "polling", cfg)
	if err != nil {
		return err
	}
	gen, err := generate.New(cfg.Generation)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	var buf []domainflow.Domain
	for from := int64(0); from < pr.Domains; from += 5000 {
		to := min(from+5000, pr.Domains)
		buf = makeChunk(gen, c.ID, from, to, now, buf)
		if _, _, err := t.db.InsertDomains(ctx, t.user.ID, c.ID, buf); err != nil {
			return fmt.Errorf("InsertDomains: %w", err)
		}
	}
	if _, err := t.db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	logf("polling: seeded %d domains", pr.Domains)

	apiLog := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	handler, err := server.New(server.Config{Store: t.db, Proxies: proxycheck.Checker{Timeout: 5 * time.Second}, Logger: apiLog,
		RateLimit: server.RateLimit{}})
	if err != nil {
		return err
	}
	realBase, stopReal, err := serveLoopback(handler)
	if err != nil {
		return err
	}
	defer stopReal()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * pr.Clients,
		DisableCompression: true, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()

	base := "/api/v1/campaigns/" + c.ID.String()
	paths := map[string]string{"status": base + "/domains/status", "list": base + "/domains?limit=100"}
	type answer struct {
		body []byte
		etag string
		ct   string
	}
	answers := map[string]answer{}
	for ep, p := range paths {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, realBase+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == "" {
			return fmt.Errorf("GET %s: %s, ETag %q: %.300s", p, res.Status, res.Header.Get("ETag"), body)
		}
		answers[p] = answer{body, res.Header.Get("ETag"), res.Header.Get("Content-Type")}
		if ep == "status" {
			pr.BodyStatus = len(body)
		} else {
			pr.BodyList = len(body)
		}
	}

	// The baseline server replays the real answers: the client's and
	// net/http's share of the cost.
	trivial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", a.etag)
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", a.ct)
		w.Write(a.body)
	})
	trivialBase, stopTrivial, err := serveLoopback(trivial)
	if err != nil {
		return err
	}
	defer stopTrivial()

	bases := map[string]string{"real": realBase, "trivial": trivialBase}
	for _, srv := range []string{"real", "trivial"} {
		for _, ep := range []string{"list", "status"} {
			for _, cond := range []bool{true, false} {
				p := paths[ep]
				pr.Cases = append(pr.Cases, &pollCase{Server: srv, Endpoint: ep, Cond: cond, path: bases[srv] + p, etag: answers[p].etag})
			}
		}
	}
	rep.Polling = pr
	logf("polling: %d clients, %d rounds of %s per case, %d cases interleaved", pr.Clients, pr.Rounds, pr.Round, len(pr.Cases))
	// Warm-up: every case once, unmeasured.
	for _, pc := range pr.Cases {
		if _, err := pollRound(ctx, client, token, pc, pr.Clients, 300*time.Millisecond, false); err != nil {
			return err
		}
	}
	for round := range pr.Rounds {
		for i := range pr.Cases {
			// Rotate the order each round so no case always follows the same one.
			pc := pr.Cases[(i+round)%len(pr.Cases)]
			if _, err := pollRound(ctx, client, token, pc, pr.Clients, pr.Round, true); err != nil {
				return err
			}
		}
	}
	for _, pc := range pr.Cases {
		logf("polling: %s %s %s: %.0f req/s, p50 %s p99 %s, CPU %.1f µs/req", pc.Server, pc.Endpoint, pc.name(), pc.rate(),
			ms(durQuantile(pc.Latencies, 0.5)), ms(durQuantile(pc.Latencies, 0.99)), float64(pc.cpuPer().Nanoseconds())/1000)
	}
	return nil
}

// serveLoopback serves h on a loopback port and returns its base URL.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}, nil
}

// pollRound runs `clients` goroutines sending pc's request for d; when
// record is set it adds the requests, latencies and the process CPU to pc.
func pollRound(ctx context.Context, client *http.Client, token string, pc *pollCase, clients int, d time.Duration, record bool) (int64, error) {
	want := http.StatusOK
	if pc.Cond {
		want = http.StatusNotModified
	}
	var (
		n, bytes atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	cpu0 := cpuTime()
	t0 := time.Now()
	deadline := t0.Add(d)
	for range clients {
		wg.Go(func() {
			var local []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pc.path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				if pc.Cond {
					req.Header.Set("If-None-Match", pc.etag)
				}
				s := time.Now()
				res, err := client.Do(req)
				if err == nil {
					var k int64
					k, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					bytes.Add(k)
					if err == nil && res.StatusCode != want {
						err = fmt.Errorf("GET %s: %s, want %d", pc.path, res.Status, want)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(s))
				n.Add(1)
			}
			if record {
				mu.Lock()
				pc.Latencies = append(pc.Latencies, local...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	cpu := cpuTime() - cpu0
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if record {
		pc.Requests += n.Load()
		pc.Bytes += bytes.Load()
		pc.Elapsed += el
		pc.CPU += cpu
	}
	return n.Load(), nil
}

// ---- report ----

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }

func (r *report) pollingTable(w io.Writer) {
	p := r.Polling
	fmt.Fprintln(w, "| Endpoint | Answer | Requests | Requests/s | p50 | p99 | Body bytes/req | Process CPU/req | Baseline: the client + a replaying handler, CPU/req | Net CPU/req (server − baseline) |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, ep := range []string{"list", "status"} {
		for _, cond := range []bool{true, false} {
			c, b := p.find("real", ep, cond), p.find("trivial", ep, cond)
			if c == nil || b == nil {
				continue
			}
			label := "`GET …/domains?limit=100`"
			if ep == "status" {
				label = "`GET …/domains/status`"
			}
			fmt.Fprintf(w, "| %s | %s | %s | **%s** | %s | %s | %s | **%s** | %s | %s |\n", label, c.name(), thousands(c.Requests), rate(c.rate()),
				ms(durQuantile(c.Latencies, 0.5)), ms(durQuantile(c.Latencies, 0.99)), thousands(c.Bytes/max(1, c.Requests)),
				us(c.cpuPer()), us(b.cpuPer()), us(c.cpuPer()-b.cpuPer()))
		}
	}
	fmt.Fprintln(w)
	for _, ep := range []string{"list", "status"} {
		c304, c200 := p.find("real", ep, true), p.find("real", ep, false)
		b304, b200 := p.find("trivial", ep, true), p.find("trivial", ep, false)
		if c304 == nil || c200 == nil || b304 == nil || b200 == nil {
			continue
		}
		fmt.Fprintf(w, "- %s: a 304 costs %.2f× a 200 in whole-process CPU per request (%.2f× net of the baseline); %.2f× its requests/s.\n", ep,
			float64(c304.cpuPer())/float64(c200.cpuPer()), float64(c304.cpuPer()-b304.cpuPer())/float64(c200.cpuPer()-b200.cpuPer()), c304.rate()/c200.rate())
	}
}

func (r *report) pollingMarkdown(w io.Writer) {
	p := r.Polling
	fmt.Fprintln(w, "## Polling: conditional requests (304) against full answers (200)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The real handler (`server.New`, rate limit off) on a loopback listener, its store on a fresh PostgreSQL database holding one campaign of %s domains "+
		"(the paging section's mix of outcomes); no engine runs, so nothing changes and every conditional poll is a 304. "+
		"%d client goroutines share one keep-alive `http.Client` in the same process and send one kind of request for %s at a time; "+
		"the kinds (endpoint × with/without `If-None-Match`, on the real server and on the baseline) take turns, %d rounds each, the order rotated every round. "+
		"The baseline is the same client against a handler that replays the real server's answers (same body, same ETag) with no work: the client's and net/http's part of the cost. "+
		"CPU is the whole process's user+system time (getrusage) over the rounds ÷ requests: client and server share the process; PostgreSQL's CPU (the token and campaign lookups a 304 still runs, and the page query of a 200) is in its own processes and not counted. "+
		"200 bodies: the list page %s bytes, the status summary %s bytes.\n\n",
		thousands(p.Domains), p.Clients, p.Round, p.Rounds, thousands(int64(p.BodyList)), thousands(int64(p.BodyStatus)))
	r.pollingTable(w)
	fmt.Fprintln(w)
}

func (r *report) pollingGoals() []string {
	p := r.Polling
	if p == nil {
		return nil
	}
	c304, c200 := p.find("real", "list", true), p.find("real", "list", false)
	b304, b200 := p.find("trivial", "list", true), p.find("trivial", "list", false)
	if c304 == nil || c200 == nil || c304.Requests == 0 || c200.Requests == 0 {
		return nil
	}
	x := float64(c304.cpuPer()) / float64(c200.cpuPer())
	net := float64(c304.cpuPer()-b304.cpuPer()) / float64(c200.cpuPer()-b200.cpuPer())
	return []string{fmt.Sprintf("- %s: %s in this run — %s against %s per request = %.2f× (whole process, client included); net of the client baseline %s against %s = %.2f×.",
		goalPolling, verdict(x <= 0.2), us(c304.cpuPer()), us(c200.cpuPer()), x,
		us(c304.cpuPer()-b304.cpuPer()), us(c200.cpuPer()-b200.cpuPer()), net)}
}
