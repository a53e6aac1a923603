package dnscheck_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/netguard"
)

// countingServer serves zone() over UDP on ip and counts the queries.
func countingServer(t *testing.T, ip string) (addr string, queries *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	queries = new(atomic.Int64)
	z := zone()
	srv := serve(t, &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		queries.Add(1)
		z.ServeDNS(w, m)
	})})
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), queries
}

func opening(cidrs ...string) dnscheck.Option {
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	return dnscheck.WithGuard(netguard.New(ps))
}

// A campaign's resolver on loopback is refused by default: it is never
// asked anything, every check says blocked at once (no timeout, no retry),
// and the probe before the phase reports it blocked, not dead.
func TestGuardRefusesResolver(t *testing.T) {
	addr, queries := countingServer(t, "127.0.0.1")
	_, port, _ := net.SplitHostPort(addr)
	for _, resolver := range []string{addr, "localhost:" + port, "[::ffff:127.0.0.1]:" + port} {
		r, err := dnscheck.New(domainflow.DNSConfig{Resolvers: []string{resolver}, TimeoutMS: 2000, Retries: 3, MaxAttempts: 6})
		if err != nil {
			t.Fatalf("%s: %v", resolver, err)
		}
		start := time.Now()
		res := r.Check(context.Background(), "a.example")
		if res.Status != domainflow.CheckError || res.Reason != domainflow.ReasonBlocked || !strings.HasPrefix(res.Error, "blocked: ") ||
			res.Resolver != resolver || len(res.Addresses) > 0 {
			t.Errorf("%s: Check = %+v; want error, blocked, naming the resolver", resolver, res)
		}
		if res.Transient() {
			t.Errorf("%s: a blocked result is transient: it would be tried again", resolver)
		}
		if again := r.CheckAgain(context.Background(), "a.example", &res); again.Reason != domainflow.ReasonBlocked {
			t.Errorf("%s: CheckAgain = %+v", resolver, again)
		}
		live := r.Alive(context.Background(), ".example")
		if len(live) != 1 || live[0].Alive || !live[0].Blocked || !strings.HasPrefix(live[0].Reason, "blocked: ") {
			t.Errorf("%s: Alive = %+v; want it blocked", resolver, live)
		}
		if b := r.Blocked(); len(b) != 1 || b[0].Address != resolver {
			t.Errorf("%s: Blocked = %+v", resolver, b)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: the blocked checks took %v; want no waiting", resolver, took)
		}
		r.Close()
	}
	if n := queries.Load(); n != 0 {
		t.Errorf("the refused resolver got %d queries; want none", n)
	}
}

// Beside a refused resolver, the allowed one answers every check: the
// refused one is out of rotation for good, and never probed.
func TestGuardKeepsRefusedResolverOut(t *testing.T) {
	refusedAddr, refusedQueries := countingServer(t, "127.0.0.1")
	allowedAddr, allowedQueries := countingServer(t, "127.0.0.2")
	r, err := dnscheck.New(domainflow.DNSConfig{Resolvers: []string{refusedAddr, allowedAddr}, TimeoutMS: 1000, Retries: 1},
		opening("127.0.0.2/32"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 20 {
		res := r.Check(context.Background(), "a.example")
		if res.Status != domainflow.CheckOK || res.Resolver != allowedAddr {
			t.Fatalf("check %d: %+v; want the allowed resolver's answer", i, res)
		}
	}
	live := r.Alive(context.Background(), ".example")
	if !live[0].Blocked || live[0].Alive || !live[1].Alive || live[1].Blocked {
		t.Errorf("Alive = %+v", live)
	}
	if r.Demote(allowedAddr) {
		// Every usable resolver demoted: the refused one is still not asked.
		for range 5 {
			if res := r.Check(context.Background(), "a.example"); res.Resolver != allowedAddr {
				t.Errorf("with the allowed resolver demoted, the check went to %s", res.Resolver)
			}
		}
	}
	if n := refusedQueries.Load(); n != 0 {
		t.Errorf("the refused resolver got %d queries; want none", n)
	}
	if allowedQueries.Load() == 0 {
		t.Error("the allowed resolver got no query")
	}
	if got := r.Blocked(); len(got) != 1 || got[0].Address != refusedAddr {
		t.Errorf("Blocked = %+v", got)
	}
}
