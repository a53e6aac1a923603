package dnscheck_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/netguard"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// zone is the test server's data: each name answers in its own way.
func zone() dns.Handler {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	soa := rr("example. 300 IN SOA ns.example. admin.example. 1 3600 600 86400 300")
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if len(req.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			w.WriteMsg(m)
			return
		}
		q := req.Question[0]
		name, qt := strings.ToLower(q.Name), q.Qtype
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		switch name {
		case "a.example.":
			if qt == dns.TypeA {
				m.Answer = []dns.RR{rr(name + " 60 IN A 192.0.2.1"), rr(name + " 60 IN A 192.0.2.2"), rr(name + " 60 IN A 192.0.2.1")}
			}
		case "both.example.":
			switch qt {
			case dns.TypeA:
				m.Answer = []dns.RR{rr(name + " 60 IN A 192.0.2.7")}
			case dns.TypeAAAA:
				m.Answer = []dns.RR{rr(name + " 60 IN AAAA 2001:db8::7")}
			}
		case "v6only.example.":
			if qt == dns.TypeAAAA {
				m.Answer = []dns.RR{rr(name + " 60 IN AAAA 2001:db8::1"), rr(name + " 60 IN AAAA 2001:db8::2")}
			} else {
				m.Ns = []dns.RR{soa}
			}
		case "cname.example.": // a chain of two links, complete in the answer
			m.Answer = []dns.RR{rr(name + " 60 IN CNAME mid.example."), rr("mid.example. 60 IN CNAME a.example.")}
			if qt == dns.TypeA {
				m.Answer = append(m.Answer, rr("a.example. 60 IN A 192.0.2.1"), rr("other.example. 60 IN A 198.51.100.1"))
			}
		case "dangling.example.": // the chain leaves the answer
			m.Answer = []dns.RR{rr(name + " 60 IN CNAME a.example.")}
		case "loop.example.":
			m.Answer = []dns.RR{rr(name + " 60 IN CNAME loop.example.")}
		case "ping.example.", "pong.example.": // a loop seen one link at a time
			m.Answer = []dns.RR{rr(name + " 60 IN CNAME " + map[string]string{"ping.example.": "pong.example.", "pong.example.": "ping.example."}[name])}
		case "nodata.example.":
			m.Ns = []dns.RR{soa}
		case "nx.example.":
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case "servfail.example.":
			m.Rcode = dns.RcodeServerFailure
		case "refused.example.":
			m.Rcode = dns.RcodeRefused
		case "notimp.example.":
			m.Rcode = dns.RcodeNotImplemented
		case "silent.example.":
			return // never answers
		case "tc.example.": // answers only over TCP
			if !tcp {
				m.Truncated = true
			} else if qt == dns.TypeA {
				m.Answer = []dns.RR{rr(name + " 60 IN A 192.0.2.9")}
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
}

// openLoopback lets the resolvers of these tests ask their servers on
// loopback, which the outbound guard refuses by default.
var openLoopback = dnscheck.WithGuard(netguard.New([]netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}))

func newResolver(t *testing.T, cfg domainflow.DNSConfig) *dnscheck.Resolver {
	t.Helper()
	r, err := dnscheck.New(cfg, openLoopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestCheck(t *testing.T) {
	srv := startServer(t, zone(), true)
	const timeout = 300 * time.Millisecond
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: int(timeout / time.Millisecond), Retries: 1})

	tests := []struct {
		name     string
		status   string
		reason   string
		addrs    []string
		attempts int
		errHas   string
		resolver bool          // Resolver must be the server
		minTime  time.Duration // the check takes at least this long
	}{
		{name: "a.example", status: "ok", addrs: []string{"192.0.2.1", "192.0.2.2"}, attempts: 1, resolver: true},
		{name: "A.Example.", status: "ok", addrs: []string{"192.0.2.1", "192.0.2.2"}, attempts: 1, resolver: true},
		{name: "both.example", status: "ok", addrs: []string{"192.0.2.7"}, attempts: 1, resolver: true},
		{name: "v6only.example", status: "ok", addrs: []string{"2001:db8::1", "2001:db8::2"}, attempts: 1, resolver: true},
		{name: "cname.example", status: "ok", addrs: []string{"192.0.2.1"}, attempts: 1, resolver: true},
		{name: "dangling.example", status: "ok", addrs: []string{"192.0.2.1", "192.0.2.2"}, attempts: 1, resolver: true},
		{name: "tc.example", status: "ok", addrs: []string{"192.0.2.9"}, attempts: 1, resolver: true},
		{name: "loop.example", status: "error", reason: "no_answer", attempts: 1, errHas: "loops", resolver: true},
		{name: "ping.example", status: "error", reason: "no_answer", attempts: 1, errHas: "longer than 8", resolver: true},
		{name: "nodata.example", status: "error", reason: "no_answer", attempts: 1, resolver: true},
		{name: "nx.example", status: "error", reason: "nxdomain", attempts: 1, resolver: true},
		{name: "servfail.example", status: "error", reason: "servfail", attempts: 2, errHas: "SERVFAIL", resolver: true},
		{name: "refused.example", status: "error", reason: "refused", attempts: 2, errHas: "REFUSED", resolver: true},
		{name: "notimp.example", status: "error", reason: "other", attempts: 2, errHas: "NOTIMP", resolver: true},
		{name: "silent.example", status: "timeout", reason: "timeout", attempts: 2, minTime: 2*timeout - 20*time.Millisecond},
		{name: "bad..name", status: "error", reason: "other", errHas: "not a valid domain name"},
		{name: "", status: "error", reason: "other", errHas: "not a valid domain name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res := r.Check(context.Background(), tc.name)
			elapsed := time.Since(start)
			if res.Status != tc.status || res.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want %s/%s", res.Status, res.Reason, res.Error, tc.status, tc.reason)
			}
			if !slices.Equal(res.Addresses, tc.addrs) {
				t.Errorf("addresses %v, want %v", res.Addresses, tc.addrs)
			}
			if res.Attempts != tc.attempts {
				t.Errorf("attempts %d, want %d", res.Attempts, tc.attempts)
			}
			if !strings.Contains(res.Error, tc.errHas) {
				t.Errorf("error %q does not mention %q", res.Error, tc.errHas)
			}
			if tc.resolver && res.Resolver != srv.Addr {
				t.Errorf("resolver %q, want %q", res.Resolver, srv.Addr)
			}
			if res.CheckedAt.IsZero() {
				t.Error("checked_at not set")
			}
			if tc.status == "ok" && (res.LatencyMS <= 0 || res.LatencyMS > float64(timeout/time.Millisecond)) {
				t.Errorf("latency %v ms", res.LatencyMS)
			}
			// Never longer than attempts × timeout (plus scheduling slack).
			if limit := 2*timeout + 250*time.Millisecond; elapsed > limit {
				t.Errorf("took %v, more than %v", elapsed, limit)
			}
			if elapsed < tc.minTime {
				t.Errorf("took %v, less than %v", elapsed, tc.minTime)
			}
		})
	}
}

// TestBrokenServers: servers that answer with garbage make network errors,
// within attempts × timeout, never hangs.
func TestBrokenServers(t *testing.T) {
	const timeout = 200 * time.Millisecond
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	tests := []struct {
		name   string
		reply  func(req []byte) [][]byte
		errHas string
	}{
		{"random bytes", func([]byte) [][]byte { return [][]byte{random(3), random(40), random(300)} }, "malformed or mismatched"},
		{"right id, garbage body", func(req []byte) [][]byte {
			b := random(60)
			copy(b, req[:2])
			b[2], b[3] = 0x80, 0 // QR, NOERROR
			b[4], b[5] = 0, 0    // no question section, so only the ID is matched
			b[6], b[7] = 0, 200  // 200 answers that are not there
			return [][]byte{b}
		}, "malformed reply"},
		{"flood of wrong ids", func(req []byte) [][]byte {
			var out [][]byte
			for i := range 50 {
				b := slices.Clone(req)
				b[1] += byte(i + 1)
				b[2] |= 0x80
				out = append(out, b)
			}
			return out
		}, "malformed or mismatched"},
		{"not a response", func(req []byte) [][]byte { return [][]byte{slices.Clone(req)} }, "not a response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := startRawUDP(t, func(req []byte) [][]byte {
				if len(req) < 12 {
					return nil
				}
				return tc.reply(req)
			})
			r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{addr}, TimeoutMS: int(timeout / time.Millisecond), Retries: 1})
			start := time.Now()
			res := r.Check(context.Background(), "a.example")
			elapsed := time.Since(start)
			if res.Status != "error" || res.Reason != "network" {
				t.Fatalf("got %s/%s (%s), want error/network", res.Status, res.Reason, res.Error)
			}
			if !strings.Contains(res.Error, tc.errHas) {
				t.Errorf("error %q does not mention %q", res.Error, tc.errHas)
			}
			if res.Attempts != 2 {
				t.Errorf("attempts %d, want 2", res.Attempts)
			}
			if limit := 2*timeout + 250*time.Millisecond; elapsed > limit {
				t.Errorf("took %v, more than %v", elapsed, limit)
			}
		})
	}
}

// deadPort returns a loopback UDP address nothing listens on.
func deadPort(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// TestRotation: a dead resolver and a good one. Checks start at each in
// turn; with one retry every check succeeds, through the good one.
func TestRotation(t *testing.T) {
	srv := startServer(t, zone(), false)
	dead := deadPort(t)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{dead, srv.Addr}, TimeoutMS: 500, Retries: 1})
	attempts := map[int]int{}
	for range 6 {
		res := r.Check(context.Background(), "a.example")
		if res.Status != "ok" || res.Resolver != srv.Addr {
			t.Fatalf("got %s/%s (%s) from %q", res.Status, res.Reason, res.Error, res.Resolver)
		}
		attempts[res.Attempts]++
	}
	if attempts[1] != 3 || attempts[2] != 3 {
		t.Errorf("attempts: %v, want three checks of 1 attempt and three of 2", attempts)
	}

	// Without retries, the checks that start at the dead resolver fail
	// with a network error: the port is closed (ICMP port unreachable).
	r0 := newResolver(t, domainflow.DNSConfig{Resolvers: []string{dead, srv.Addr}, TimeoutMS: 500, Retries: 0})
	statuses := map[string]int{}
	for range 4 {
		start := time.Now()
		res := r0.Check(context.Background(), "a.example")
		statuses[res.Status+"/"+res.Reason]++
		if res.Status == "error" {
			if res.Reason != "network" || !strings.Contains(res.Error, "refused") {
				t.Errorf("dead resolver: %s/%s (%s)", res.Status, res.Reason, res.Error)
			}
			if time.Since(start) > 400*time.Millisecond {
				t.Errorf("connection refused took %v, want it noticed before the timeout", time.Since(start))
			}
		}
	}
	if statuses["ok/"] != 2 || statuses["error/network"] != 2 {
		t.Errorf("statuses %v, want 2 ok and 2 network errors", statuses)
	}
}

func TestRateLimit(t *testing.T) {
	srv := startServer(t, zone(), false)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: 2000, RateLimitQPS: 50})
	start := time.Now()
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			if res := r.Check(context.Background(), "a.example"); res.Status != "ok" {
				t.Errorf("got %s/%s (%s)", res.Status, res.Reason, res.Error)
			}
		})
	}
	wg.Wait()
	// 25 queries at 50 per second, a burst of 1: 24 waits of 20 ms.
	if elapsed := time.Since(start); elapsed < 400*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("25 checks at 50 qps took %v, want about 0.48 s", elapsed)
	}

	// The wait for the limiter honours ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var timeouts int
	start = time.Now()
	for range 10 {
		if res := r.Check(ctx, "a.example"); res.Status == "timeout" {
			timeouts++
		}
	}
	if timeouts == 0 || time.Since(start) > time.Second {
		t.Errorf("%d of 10 checks ran out of ctx's time, in %v", timeouts, time.Since(start))
	}
}

func TestContext(t *testing.T) {
	srv := startServer(t, zone(), false)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: 5000, Retries: 3})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		res := r.Check(ctx, "silent.example")
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("took %v after a cancel at 100 ms", elapsed)
		}
		if res.Status != "error" || res.Reason != "other" || !strings.Contains(res.Error, "canceled") {
			t.Errorf("got %s/%s (%s), want error/other, canceled", res.Status, res.Reason, res.Error)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		res := r.Check(ctx, "silent.example")
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("took %v with a 150 ms deadline", elapsed)
		}
		if res.Status != "timeout" || res.Reason != "timeout" || res.Attempts != 1 {
			t.Errorf("got %s/%s (%s) after %d attempts, want one attempt, timeout", res.Status, res.Reason, res.Error, res.Attempts)
		}
	})
	t.Run("already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if res := r.Check(ctx, "a.example"); res.Status == "ok" {
			t.Errorf("a cancelled ctx gave %+v", res)
		}
	})
}

// TestConcurrent: 200 goroutines share one Resolver (run with -race).
func TestConcurrent(t *testing.T) {
	srv := startServer(t, zone(), true)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr, srv.Addr}, TimeoutMS: 3000, Retries: 1})
	want := map[string]string{
		"a.example": "ok", "v6only.example": "ok", "cname.example": "ok", "tc.example": "ok",
		"nx.example": "nxdomain", "nodata.example": "no_answer", "servfail.example": "servfail",
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	var wg sync.WaitGroup
	for g := range 200 {
		wg.Go(func() {
			for i := range 10 {
				n := names[(g+i)%len(names)]
				res := r.Check(context.Background(), n)
				got := res.Status
				if res.Reason != "" {
					got = res.Reason
				}
				if got != want[n] {
					t.Errorf("%s: got %s/%s (%s), want %s", n, res.Status, res.Reason, res.Error, want[n])
				}
			}
		})
	}
	wg.Wait()
}

// TestClose: Close ends the checks in flight, later checks fail at once,
// and no goroutine is left behind.
func TestClose(t *testing.T) {
	srv := startServer(t, zone(), false)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	r, err := dnscheck.New(domainflow.DNSConfig{Resolvers: []string{srv.Addr, deadPort(t)}, TimeoutMS: 5000, Retries: 1}, openLoopback)
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Check(context.Background(), "a.example"); res.Status != "ok" {
		t.Fatalf("got %s/%s (%s)", res.Status, res.Reason, res.Error)
	}
	done := make(chan domainflow.DNSResult)
	go func() { done <- r.Check(context.Background(), "silent.example") }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.Status != "error" || !strings.Contains(res.Error, "closed") {
			t.Errorf("check in flight at Close: %s/%s (%s)", res.Status, res.Reason, res.Error)
		}
	case <-time.After(time.Second):
		t.Fatal("a check in flight did not end at Close")
	}
	if time.Since(start) > time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
	if res := r.Check(context.Background(), "a.example"); res.Status != "error" || res.Reason != "other" {
		t.Errorf("check after Close: %s/%s (%s)", res.Status, res.Reason, res.Error)
	}
	r.Close() // twice is fine
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	conf := func(body string) string {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".conf")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("system resolvers", func(t *testing.T) {
		defer dnscheck.SetResolvConfPath(conf("search example\nnameserver 127.0.0.1\nnameserver ::1\n"))()
		r, err := dnscheck.New(domainflow.DNSConfig{TimeoutMS: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got := r.Resolvers(); !slices.Equal(got, []string{"127.0.0.1:53", "[::1]:53"}) {
			t.Errorf("resolvers %v", got)
		}
		// The operator's resolvers are used whatever the guard says.
		if b := r.Blocked(); len(b) > 0 {
			t.Errorf("system resolvers blocked: %+v", b)
		}
	})
	t.Run("no system resolver", func(t *testing.T) {
		defer dnscheck.SetResolvConfPath(conf("search example\n"))()
		if _, err := dnscheck.New(domainflow.DNSConfig{}); err == nil || !strings.Contains(err.Error(), "no nameserver") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no resolv.conf", func(t *testing.T) {
		defer dnscheck.SetResolvConfPath(filepath.Join(dir, "missing"))()
		if _, err := dnscheck.New(domainflow.DNSConfig{}); err == nil || !strings.Contains(err.Error(), "no resolvers configured") {
			t.Errorf("err = %v", err)
		}
	})
	for _, cfg := range []domainflow.DNSConfig{
		{Resolvers: []string{"127.0.0.1"}},
		{Resolvers: []string{":53"}},
		{Resolvers: []string{"127.0.0.1:53"}, Retries: -1},
		{Resolvers: []string{"127.0.0.1:53"}, TimeoutMS: -5},
		{Resolvers: []string{"127.0.0.1:53"}, RateLimitQPS: -1},
	} {
		if r, err := dnscheck.New(cfg); err == nil {
			r.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
