package tests

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/domainflow/domainflow/gen/api"
)

// gzipBomb is a page of size bytes once gunzipped, about a thousandth of
// that on the wire: a title and "widgets" first, filler, and "pricing" as
// its last word. Every request gets it gzipped, as a hostile server would
// send it.
func gzipBomb(t *testing.T, size int) http.HandlerFunc {
	t.Helper()
	head := "<html><head><title>Bomb</title></head><body><p>widgets</p><p>"
	tail := " pricing</p></body></html>"
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write([]byte(head))
	zw.Write(bytes.Repeat([]byte("a"), size-len(head)-len(tail)))
	zw.Write([]byte(tail))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	bomb := z.Bytes()
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Header().Set("Content-Encoding", "gzip")
		rw.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
		rw.Write(bomb)
	}
}

// peakRSS returns the server process's peak resident memory (VmHWM), in
// bytes, so far.
func (s *testServer) peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.proc.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/PID/status:\n%s", b)
	return 0
}

// TestEngineGzipBombs: a campaign fetching 10 MiB gzip bombs (10 KiB each
// on the wire) at concurrency 60 completes with every page scored on its
// first max_body_bytes, and the server, at its default HTTP body budget,
// stays under 200 MiB. Without a budget the same campaign took it past
// 1.5 GiB.
func TestEngineGzipBombs(t *testing.T) {
	const (
		maxBody = 10 << 20 // the spec's maximum of max_body_bytes
		bombLen = maxBody + 4<<10
		maxRSS  = 200 << 20
	)
	bomb := gzipBomb(t, bombLen)
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("bomb", "abcdefghij", 2, []string{".test", ".example"}, 200)
		names := namesOf(t, gen)

		// Every name resolves and serves the bomb, but for a few small
		// pages among them.
		web := startWeb(t, bomb)
		rules := map[string]dnsAction{}
		wants := make([]wantDomain, len(names))
		for i, n := range names {
			rules[n] = dnsAnswer
			wants[i] = fetched(200, "Bomb", []string{"widgets"}, "/", 55, 40)
			wants[i].contentLength = maxBody
			if i%40 == 0 {
				web.handle(n, htmlPage(200, "Small", "widgets and pricing"))
				wants[i] = fetched(200, "Small", []string{"widgets", "pricing"}, "/", 70, 40)
			}
		}
		dnsSrv := startDNS(t, 0, ruleOf(rules))
		before := s.peakRSS(t)

		started := time.Now()
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "gzip bombs", Generation: gen, AutoStart: ptr(true),
			Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(1000), Retries: ptr(1)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets", "pricing"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(3000),
				Concurrency: ptr(60), MaxBodyBytes: ptr(int64(maxBody))},
			Analysis: &api.AnalysisConfig{MinLeadScore: ptr(40)},
		})
		mustStatus(t, "create the campaign", cr, err, 201)
		id := cr.JSON201.Id
		sum := alice.waitFor(ctx, t, id, 2*time.Minute, "completion", completed)
		peak := s.peakRSS(t)
		t.Logf("%d names, %d of them 10 MiB gzip bombs, fetched at concurrency 60 in %v; server RSS peak %.1f MiB (%.1f MiB before the campaign)",
			len(names), len(names)-len(names)/40, time.Since(started).Round(time.Millisecond), float64(peak)/(1<<20), float64(before)/(1<<20))

		checkDomains(ctx, t, alice, id, names, wants, checkEnv{resolver: dnsSrv.Addr, web: web})
		checkRows(ctx, t, s, id, int64(len(names)), sum)
		got, _ := alice.allDomains(ctx, t, id, api.ListDomainsParams{})
		for i, d := range got {
			wantCut := wants[i].title == "Bomb"
			if r := d.HttpResult; r == nil || deref(r.Truncated) != wantCut {
				t.Errorf("%s: http_result %s; want truncated %v", d.Name, mustJSON(r), wantCut)
			}
		}
		if peak > maxRSS {
			t.Errorf("the server's RSS peaked at %.1f MiB, over %d MiB", float64(peak)/(1<<20), maxRSS>>20)
		}
	})
}
