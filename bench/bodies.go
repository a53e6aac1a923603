package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// The bodies section: what HTTP checks hold in memory. Each page of the
// bomb campaign is bombBytes of HTML when gunzipped and about 10 KiB on the
// wire, with a keyword before max_body_bytes and another after it.
const (
	bombBytes       = 10<<20 + 4<<10
	bodyMaxBytes    = 10 << 20 // the spec's maximum of http.max_body_bytes
	bodyConcurrency = 60
	bombTitle       = "Shop bomb"
	smallTitle      = "Shop sale"
)

// bodyRun is one campaign run by the engine in a child process.
type bodyRun struct {
	Kind       string // "small" or "bomb"
	StartRSSKB int64  // the child with the engine not yet started
	PeakRSSKB  int64  // VmHWM at its exit (and the most sampled)
	HTTP       time.Duration
	Wall       time.Duration
	Heap       *childHeap
	Bad        []string // results that are not what the pages hold
}

// bodiesReport is the bodies section's figures.
type bodiesReport struct {
	Names       int64
	Concurrency int
	MaxBody     int64
	BombBytes   int64
	BombWire    int64
	Runs        []bodyRun
}

func (b *bodiesReport) of(kind string) []bodyRun {
	var out []bodyRun
	for _, r := range b.Runs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// bombPage is the gzip bomb: a title and "shop" first, then filler, then
// "sale" past bodyMaxBytes.
func bombPage() ([]byte, error) {
	head := "<!doctype html><html><head><title>" + bombTitle + "</title></head><body><h1>shop</h1><p>"
	tail := " sale</p></body></html>"
	var zb bytes.Buffer
	zw, err := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.Write([]byte(head))
	filler := bytes.Repeat([]byte("a"), 64<<10)
	for left := bombBytes - len(head) - len(tail); left > 0; left -= len(filler) {
		zw.Write(filler[:min(left, len(filler))])
	}
	zw.Write([]byte(tail))
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return zb.Bytes(), nil
}

// bodyServer serves every host the bomb (gzip, whatever the request
// accepts, as a hostile server would) or the small page.
func bodyServer(bomb []byte) (*httptest.Server, int, error) {
	small := []byte("<!doctype html><html><head><title>" + smallTitle + "</title></head><body><h1>shop</h1><p>Everything on sale.</p></body></html>")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if strings.Contains(r.Host, "bomb.") {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
			w.Write(bomb)
			return
		}
		w.Write(small)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, err := strconv.Atoi(port)
	if err != nil {
		srv.Close()
		return nil, 0, err
	}
	return srv, p, nil
}

func runBodies(ctx context.Context, o options, rep *report) error {
	bomb, err := bombPage()
	if err != nil {
		return err
	}
	web, port, err := bodyServer(bomb)
	if err != nil {
		return err
	}
	defer web.Close()
	// Every name of the campaigns resolves, and no other: a zone answering
	// every name would be found to be a wildcard and its names not fetched.
	dnsSrv := newAuthServer(100)
	dnsSrv.only = map[string]struct{}{}
	for _, kind := range []string{"small", "bomb"} {
		gen, err := generate.New(bodiesConfig(o, kind, "", 0).Generation)
		if err != nil {
			return err
		}
		for i := range o.bodyNames {
			name, _ := gen.Name(i)
			dnsSrv.only[name] = struct{}{}
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dnsSrv.addr = pc.LocalAddr().String()
	if dnsSrv.srv, err = serveDNS(pc, dnsSrv); err != nil {
		return err
	}
	defer dnsSrv.stop()

	b := &bodiesReport{Names: o.bodyNames, Concurrency: bodyConcurrency, MaxBody: bodyMaxBytes, BombBytes: bombBytes, BombWire: int64(len(bomb))}
	rep.Bodies = b
	logf("bodies: %d names a campaign, http.concurrency %d, max_body_bytes %d; bomb pages %d bytes gunzipped, %d on the wire",
		b.Names, b.Concurrency, b.MaxBody, b.BombBytes, b.BombWire)
	var firstBad string
	for round := range o.bodyRounds {
		kinds := []string{"small", "bomb"}
		if round%2 == 1 {
			slices.Reverse(kinds) // either one first, in turn
		}
		for _, kind := range kinds {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := bodyCampaign(ctx, o, kind, dnsSrv.addr, port)
			if err != nil {
				return fmt.Errorf("%s pages, round %d: %w", kind, round+1, err)
			}
			b.Runs = append(b.Runs, r)
			logf("  round %d, %s pages: RSS %s idle, peak %s; HTTP phase %s; %d wrong results", round+1, kind, mb(r.StartRSSKB), mb(r.PeakRSSKB), secs(r.HTTP), len(r.Bad))
			if len(r.Bad) > 0 && firstBad == "" {
				firstBad = fmt.Sprintf("%s pages, round %d: %s", kind, round+1, r.Bad[0])
			}
		}
	}
	// Wrong results fail the section once every run is measured: the
	// figures of a broken build are worth seeing too.
	if firstBad != "" {
		return fmt.Errorf("wrong results; the first: %s", firstBad)
	}
	return nil
}

// bodiesConfig is the campaign of kind's pages: the web server tells them
// apart by name.
func bodiesConfig(o options, kind, resolver string, port int) domainflow.CampaignConfig {
	cfg := benchConfig(o.bodyNames)
	cfg.Generation.ConstantString = kind
	cfg.DNS.Resolvers = []string{resolver}
	cfg.HTTP.Ports = []int{port}
	cfg.HTTP.Concurrency = bodyConcurrency
	cfg.HTTP.MaxBodyBytes = bodyMaxBytes
	return cfg
}

// bodyCampaign runs one campaign of o.bodyNames names on a fresh PostgreSQL
// database in a child process and checks every domain's result.
func bodyCampaign(ctx context.Context, o options, kind, resolver string, port int) (_ bodyRun, err error) {
	r := bodyRun{Kind: kind}
	t, err := openTarget(ctx, o, store.Postgres, true)
	if err != nil {
		return r, err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	c, err := t.draftCampaign(ctx, "bodies "+kind, bodiesConfig(o, kind, resolver, port))
	if err != nil {
		return r, err
	}

	cmd, stdout, cancel, err := engineChild(ctx, childSpec{DatabaseURL: t.url, UserID: t.user.ID, CampaignID: c.ID, Timeout: 5 * time.Minute}, 6*time.Minute)
	if err != nil {
		return r, err
	}
	defer cancel()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	evs := make(chan []evRec, 1)
	go func() {
		var out []evRec
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e evRec
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				out = append(out, e)
			}
		}
		evs <- out
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
sample:
	for {
		select {
		case waitErr = <-exited:
			break sample
		case <-tick.C:
			rss, hwm := procMemory(cmd.Process.Pid)
			r.PeakRSSKB = max(r.PeakRSSKB, rss, hwm)
		}
	}
	r.Wall = time.Since(began)
	all := <-evs
	if waitErr != nil {
		return r, fmt.Errorf("the engine process: %w", waitErr)
	}
	for _, e := range all {
		switch e.Type {
		case "started":
			r.StartRSSKB = e.RSSKB
		case "exit":
			r.PeakRSSKB = max(r.PeakRSSKB, e.HWMKB)
			if h := e.childHeap(); h != nil {
				r.Heap = h
			}
		}
	}
	final, err := t.db.GetCampaign(ctx, t.user.ID, c.ID)
	if err != nil {
		return r, err
	}
	if final.Status != domainflow.StatusCompleted {
		return r, fmt.Errorf("the campaign ended %s: %s", final.Status, final.Error)
	}
	if p, ok := findPhase(phases(all, final), domainflow.PhaseHTTP); ok {
		r.HTTP = p.dur()
	}
	r.Bad, err = checkBodies(ctx, t, final, kind)
	return r, err
}

// checkBodies returns what is wrong with the campaign's results: every name
// answered 200 with the page's title; the small page has both keywords, the
// bomb only the one before max_body_bytes, and it was read up to there and
// said to be truncated.
func checkBodies(ctx context.Context, t *target, c *domainflow.Campaign, kind string) ([]string, error) {
	var bad []string
	after := int64(-1)
	seen := int64(0)
	for {
		page, err := t.db.ListDomains(ctx, t.user.ID, c.ID, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 1000, After: after})
		if err != nil {
			return nil, err
		}
		for _, d := range page.Items {
			seen++
			after = d.OffsetIndex
			h := d.HTTPResult
			want, wantKW, wantLen, cut := smallTitle, []string{"shop", "sale"}, int64(-1), false
			if kind == "bomb" {
				want, wantKW, wantLen, cut = bombTitle, []string{"shop"}, bodyMaxBytes, true
			}
			switch {
			case h == nil:
				bad = append(bad, d.Name+": no HTTP result")
			case h.Status != domainflow.CheckOK || h.StatusCode != 200 || h.Title != want || !slices.Equal(h.KeywordsFound, wantKW) ||
				(wantLen >= 0 && h.ContentLength != wantLen) || h.Truncated != cut:
				raw, _ := json.Marshal(h)
				bad = append(bad, fmt.Sprintf("%s: %s", d.Name, raw))
			}
		}
		if !page.HasMore {
			break
		}
	}
	if seen != c.TotalDomains {
		bad = append(bad, fmt.Sprintf("%d domains listed, %d in the campaign", seen, c.TotalDomains))
	}
	return bad, nil
}
