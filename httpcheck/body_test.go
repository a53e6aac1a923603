package httpcheck_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
)

// bombPage is a page of size bytes: a title and "before-cap" first, filler,
// and "after-cap" as its last bytes.
func bombPage(size int) []byte {
	head := "<html><head><title>Bomb</title></head><body><p>before-cap</p><p>"
	tail := " after-cap"
	return append(append([]byte(head), bytes.Repeat([]byte("a"), size-len(head)-len(tail))...), tail...)
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// serve answers with body and header (name, value pairs); with no
// Content-Length among them the body goes out chunked.
func serve(body []byte, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Length") == "" {
			w.(http.Flusher).Flush() // no length: chunked
		}
		w.Write(body)
	}
}

// A gzip bomb costs what max_body_bytes allows, no more: the page is
// gunzipped up to the limit and scored on what was read, and the result
// says it was cut.
func TestCheckBodyLimit(t *testing.T) {
	bomb := gzipped(t, bombPage(10<<20+1<<10))
	small := bombPage(4 << 10)
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(small)
	fw.Close()
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		maxBody       int64
		wantLength    int64
		wantTruncated bool
		wantTitle     string
		wantFound     []string
	}{
		{"gzip bomb cut at max_body_bytes", serve(bomb, "Content-Encoding", "gzip"),
			1 << 20, 1 << 20, true, "Bomb", []string{"before-cap"}},
		{"gzip bomb at the largest max_body_bytes", serve(bomb, "Content-Encoding", "gzip"),
			10 << 20, 10 << 20, true, "Bomb", []string{"before-cap"}},
		{"gzipped page under the limit is whole", serve(gzipped(t, small), "Content-Encoding", "gzip"),
			1 << 20, int64(len(small)), false, "Bomb", []string{"before-cap", "after-cap"}},
		{"page of exactly max_body_bytes, length unknown", serve(bombPage(64 << 10)),
			64 << 10, 64 << 10, false, "Bomb", []string{"before-cap", "after-cap"}},
		{"a byte over max_body_bytes, length unknown", serve(bombPage(64<<10 + 1)),
			64 << 10, 64 << 10, true, "Bomb", []string{"before-cap"}},
		{"declared length over max_body_bytes", serve(bombPage(64<<10+1), "Content-Length", strconv.Itoa(64<<10+1)),
			64 << 10, 64 << 10, true, "Bomb", []string{"before-cap"}},
		{"declared length of exactly max_body_bytes", serve(bombPage(64<<10), "Content-Length", strconv.Itoa(64<<10)),
			64 << 10, 64 << 10, false, "Bomb", []string{"before-cap", "after-cap"}},
		// Only gzip is asked for (by the Transport, which gunzips it); any
		// other encoding is read as the bytes that came, never inflated.
		{"deflate sent unasked is not decompressed", serve(deflated.Bytes(), "Content-Encoding", "deflate"),
			1 << 20, int64(deflated.Len()), false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			cfg := config(srv.port())
			cfg.MaxBodyBytes = tt.maxBody
			cfg.Keywords = []string{"before-cap", "after-cap"}
			cfg.TimeoutMS = 10_000
			c := newChecker(t, cfg)
			res := c.Check(context.Background(), testName, loopback)
			if res.Status != domainflow.CheckOK || res.StatusCode != 200 || res.Error != "" {
				t.Fatalf("Status %q Code %d Error %q, want ok 200", res.Status, res.StatusCode, res.Error)
			}
			if res.ContentLength != tt.wantLength || res.Truncated != tt.wantTruncated {
				t.Errorf("ContentLength %d Truncated %v, want %d %v", res.ContentLength, res.Truncated, tt.wantLength, tt.wantTruncated)
			}
			if res.Title != tt.wantTitle || !slices.Equal(res.KeywordsFound, tt.wantFound) {
				t.Errorf("Title %q KeywordsFound %q, want %q %q", res.Title, res.KeywordsFound, tt.wantTitle, tt.wantFound)
			}
		})
	}
}

// Reading a gzip bomb allocates about what max_body_bytes allows: the page
// is neither gunzipped past it nor copied to be decoded or lowercased.
func TestCheckGzipBombAllocations(t *testing.T) {
	srv := newServer(t, serve(gzipped(t, bombPage(10<<20)), "Content-Encoding", "gzip"))
	cfg := config(srv.port())
	cfg.MaxBodyBytes = 1 << 20
	cfg.Keywords = []string{"before-cap", "after-cap"}
	c := newChecker(t, cfg)
	c.Check(context.Background(), testName, loopback) // warm up: connections, pools

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := c.Check(context.Background(), testName, loopback)
	runtime.ReadMemStats(&after)
	if res.Status != domainflow.CheckOK || res.ContentLength != 1<<20 || !res.Truncated {
		t.Fatalf("got %+v", res)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Errorf("one check of a 10 MiB gzip bomb with max_body_bytes 1 MiB allocated %d bytes, want under 2 MiB", n)
	} else {
		t.Logf("allocated %d bytes", n)
	}
}

// The budget is shared by every check of every Checker given it: however
// many run, what they reserve never exceeds it, and every page is still
// read up to its limit.
func TestBudgetBoundsConcurrentChecks(t *testing.T) {
	const maxBody = 256 << 10
	budget := httpcheck.NewBudget(3 * httpcheck.Reservation(maxBody))
	srv := newServer(t, serve(gzipped(t, bombPage(10<<20)), "Content-Encoding", "gzip"))
	cfg := config(srv.port())
	cfg.MaxBodyBytes = maxBody
	cfg.Keywords = []string{"before-cap", "after-cap"}
	cfg.TimeoutMS = 30_000
	cfg.Concurrency = 32
	var checkers []*httpcheck.Checker
	for range 2 { // two campaigns on one instance
		c, err := httpcheck.New(cfg, nil, openLoopback, httpcheck.WithBudget(budget))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		checkers = append(checkers, c)
	}

	var wg sync.WaitGroup
	results := make(chan domainflow.HTTPResult, 64)
	for i := range 64 {
		wg.Go(func() { results <- checkers[i%2].Check(context.Background(), testName, loopback) })
	}
	wg.Wait()
	close(results)
	for res := range results {
		if res.Status != domainflow.CheckOK || res.ContentLength != maxBody || !res.Truncated || !slices.Equal(res.KeywordsFound, []string{"before-cap"}) {
			t.Errorf("got Status %q Error %q ContentLength %d Truncated %v Found %q", res.Status, res.Error, res.ContentLength, res.Truncated, res.KeywordsFound)
		}
	}
	peak := httpcheck.BudgetPeak(budget)
	if peak < httpcheck.Reservation(maxBody) || peak > budget.Size() {
		t.Errorf("the most reserved at once was %d bytes; want from one page's %d to the budget's %d", peak, httpcheck.Reservation(maxBody), budget.Size())
	}
	if n := budget.Held(); n != 0 {
		t.Errorf("%d bytes still reserved after every check returned", n)
	}
	t.Logf("peak %d of %d bytes (%d pages' worth)", peak, budget.Size(), peak/httpcheck.Reservation(maxBody))
}

// A check waits for room in the budget within its caller's context, not
// its own timeout: the wait is the instance's, not the site's.
func TestBudgetWait(t *testing.T) {
	const maxBody = 64 << 10
	budget := httpcheck.NewBudget(httpcheck.Reservation(maxBody)) // one page at a time
	release := make(chan struct{})
	holder := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte("<title>Holder</title>"))
		w.(http.Flusher).Flush()
		select { // keeps its reservation until released
		case <-release:
		case <-r.Context().Done():
		}
	}))
	plain := newServer(t, page(html("Plain", "widgets")))
	newBudgeted := func(port, timeoutMS int) *httpcheck.Checker {
		cfg := config(port)
		cfg.MaxBodyBytes = maxBody
		cfg.TimeoutMS = timeoutMS
		c, err := httpcheck.New(cfg, nil, openLoopback, httpcheck.WithBudget(budget))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	held := make(chan domainflow.HTTPResult, 1)
	go func() { held <- newBudgeted(holder.port(), 10_000).Check(context.Background(), testName, loopback) }()
	for deadline := time.Now().Add(5 * time.Second); budget.Held() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the first check did not reserve its page within 5s")
		}
	}

	c := newBudgeted(plain.port(), 300)

	// The caller's deadline ends the wait: the check is given up, as a
	// timeout of the caller (the engine drops such a batch and does it
	// again), not of the site.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	start := time.Now()
	res := c.Check(ctx, testName, loopback)
	cancel()
	if took := time.Since(start); res.Status != domainflow.CheckTimeout || !strings.Contains(res.Error, "deadline of the caller passed") ||
		res.ContentLength != 0 || took < 150*time.Millisecond || took > time.Second {
		t.Errorf("with the caller's deadline: got Status %q Error %q ContentLength %d after %v; want a timeout of the caller after 150ms",
			res.Status, res.Error, res.ContentLength, took)
	}

	// The check's own timeout (300 ms) does not count the wait: it is
	// still waiting after twice that, and reads the page once there is
	// room.
	waited := make(chan domainflow.HTTPResult, 1)
	go func() { waited <- c.Check(context.Background(), testName, loopback) }()
	select {
	case res := <-waited:
		t.Fatalf("a check waiting for room ended after its own timeout: %+v", res)
	case <-time.After(600 * time.Millisecond):
	}
	close(release)
	if res := <-held; res.Title != "Holder" {
		t.Errorf("the first check: %+v", res)
	}
	if res := <-waited; res.Status != domainflow.CheckOK || res.Title != "Plain" {
		t.Errorf("the check that waited for room: %+v; want the page read", res)
	}
	if res := c.Check(context.Background(), testName, loopback); res.Status != domainflow.CheckOK || res.Title != "Plain" {
		t.Errorf("with the budget free again: %+v", res)
	}
	if n := budget.Held(); n != 0 {
		t.Errorf("%d bytes still reserved after every check returned", n)
	}
}

// A page whose reservation alone exceeds the whole budget is read up to what
// fits, rather than waiting for room that never comes.
func TestCheckPageBiggerThanBudget(t *testing.T) {
	budget := httpcheck.NewBudget(1 << 20)
	srv := newServer(t, serve(gzipped(t, bombPage(10<<20)), "Content-Encoding", "gzip"))
	cfg := config(srv.port())
	cfg.MaxBodyBytes = 10 << 20
	cfg.Keywords = []string{"before-cap", "after-cap"}
	c, err := httpcheck.New(cfg, nil, openLoopback, httpcheck.WithBudget(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := c.Check(context.Background(), testName, loopback)
	if res.Status != domainflow.CheckOK || !res.Truncated || res.ContentLength <= 0 || res.ContentLength >= 1<<20 ||
		!slices.Equal(res.KeywordsFound, []string{"before-cap"}) {
		t.Errorf("got Status %q Error %q ContentLength %d Truncated %v Found %q", res.Status, res.Error, res.ContentLength, res.Truncated, res.KeywordsFound)
	}
	if peak := httpcheck.BudgetPeak(budget); peak > budget.Size() {
		t.Errorf("reserved %d bytes of a %d-byte budget", peak, budget.Size())
	}
}

// A page is read in chunks and scanned as a stream: a rune, a keyword or a
// charset's text across the chunks' boundaries is found as in one piece.
func TestCheckTextAcrossChunks(t *testing.T) {
	const chunk = 32 << 10 // the reader's chunk size
	// "é" straddles the first boundary, "needle" the second; with no
	// charset declared the page is UTF-8 only if it is valid across them.
	var utf bytes.Buffer
	utf.WriteString("<html><head><title>Café</title></head><body>")
	utf.WriteString(strings.Repeat("x", chunk-1-utf.Len()))
	utf.WriteString("é crème ")
	utf.WriteString(strings.Repeat("y", 2*chunk-3-utf.Len()))
	utf.WriteString("NEEDLE and more")
	var latin bytes.Buffer
	latin.WriteString("<title>Caf\xe9</title>")
	latin.WriteString(strings.Repeat("z", 3*chunk))
	latin.WriteString(" la CR\xc8ME")
	tests := []struct {
		name        string
		body        []byte
		contentType string
		mode        string
		keywords    []string
		wantTitle   string
		wantFound   []string
	}{
		{"UTF-8 without a charset, plain keywords", utf.Bytes(), "text/html", "plain",
			[]string{"crème", "needle", "absent"}, "Café", []string{"crème", "needle"}},
		{"UTF-8 without a charset, regular expressions", utf.Bytes(), "text/html", "regex",
			[]string{`cr[eè]me`, `ne+dle`, `absent`}, "Café", []string{`cr[eè]me`, `ne+dle`}},
		{"Latin-1 declared, decoded as it is read", latin.Bytes(), "text/html; charset=iso-8859-1", "plain",
			[]string{"crème"}, "Café", []string{"crème"}},
		{"a token longer than the title search reads past", []byte("<script>" + strings.Repeat("s", 200<<10) + "</script><title>Late</title> widgets"),
			"text/html", "plain", []string{"widgets"}, "", []string{"widgets"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, serve(tt.body, "Content-Type", tt.contentType))
			cfg := config(srv.port())
			cfg.KeywordMode = tt.mode
			cfg.Keywords = tt.keywords
			c := newChecker(t, cfg)
			res := c.Check(context.Background(), testName, loopback)
			if res.Status != domainflow.CheckOK || res.ContentLength != int64(len(tt.body)) || res.Truncated {
				t.Fatalf("got Status %q Error %q ContentLength %d Truncated %v", res.Status, res.Error, res.ContentLength, res.Truncated)
			}
			if res.Title != tt.wantTitle || !slices.Equal(res.KeywordsFound, tt.wantFound) {
				t.Errorf("Title %q KeywordsFound %q, want %q %q", res.Title, res.KeywordsFound, tt.wantTitle, tt.wantFound)
			}
		})
	}
}
