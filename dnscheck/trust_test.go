package dnscheck_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
)

// lossy answers name<i>.loss. (A 192.0.2.1 when i is a multiple of 3,
// NXDOMAIN otherwise) and drops share of all queries at random, from a
// seeded source so that every run drops alike.
type lossy struct {
	share   float64
	mu      sync.Mutex
	rng     *rand.Rand
	dropped atomic.Int64
}

func (l *lossy) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	l.mu.Lock()
	drop := l.rng.Float64() < l.share
	l.mu.Unlock()
	if drop {
		l.dropped.Add(1)
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	var i int
	if _, err := fmt.Sscanf(q.Name, "name%d.loss.", &i); err != nil || i%3 != 0 {
		m.Rcode = dns.RcodeNameError
	} else if q.Qtype == dns.TypeA {
		rr, _ := dns.NewRR(q.Name + " 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
	}
	w.WriteMsg(m)
}

// checkUntilFinal works a name as the engine does: a transient failure with
// tries left is tried again (in a later pass) until it is final.
func checkUntilFinal(ctx context.Context, r *dnscheck.Resolver, name string, maxAttempts int) domainflow.DNSResult {
	var prev *domainflow.DNSResult
	for {
		res := r.CheckAgain(ctx, name, prev)
		if !res.Transient() || res.Attempts >= maxAttempts {
			return res
		}
		prev = &res
	}
}

// With the default settings, a link that drops 10% of queries loses no
// name: lost queries are sent again after a few round trips, and a try
// that gets nothing is not the name's answer.
func TestLossyLinkLosesNothing(t *testing.T) {
	l := &lossy{share: 0.10, rng: rand.New(rand.NewPCG(1, 2))}
	srv := startServer(t, l, false)
	cfg := domainflow.DefaultDNSConfig()
	cfg.Resolvers = []string{srv.Addr}
	r := newResolver(t, cfg)

	const n = 1000
	results := make([]domainflow.DNSResult, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.Concurrency)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = checkUntilFinal(context.Background(), r, fmt.Sprintf("name%d.loss", i), cfg.MaxAttempts)
		})
	}
	wg.Wait()
	for i, res := range results {
		want := domainflow.ReasonNXDomain
		if i%3 == 0 {
			want = ""
		}
		if res.Reason != want || (want == "") != (res.Status == domainflow.CheckOK) {
			t.Errorf("name%d: %+v; want reason %q", i, res, want)
		}
	}
	st := r.TakeStats()
	// A lost query is sent again within its try: no try times out.
	if st[0].Timeouts != 0 {
		t.Errorf("%d tries timed out; lost queries should have been sent again within the try", st[0].Timeouts)
	}
	// (NS and MX queries are dropped too, but not counted as tries.)
	if l.dropped.Load() < n/20 || st[0].Queries <= n {
		t.Errorf("the server dropped %d queries and the resolver sent %d for %d names: the test did not test loss", l.dropped.Load(), st[0].Queries, n)
	}
}

// A silent resolver beside a live one is taken out of rotation after a few
// dozen tries, the owner hears of it, and every name is still answered.
func TestDeadResolverIsDemoted(t *testing.T) {
	srv := startServer(t, zone(), false)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	cfg := domainflow.DefaultDNSConfig()
	cfg.Resolvers = []string{silent.LocalAddr().String(), srv.Addr}
	cfg.TimeoutMS = 300
	var mu sync.Mutex
	var changes []string
	r, err := dnscheck.New(cfg, openLoopback, dnscheck.WithStateChange(func(addr string, demoted bool, reason string) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, fmt.Sprintf("%s demoted=%v", addr, demoted))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 200 {
		wg.Go(func() {
			if res := r.Check(context.Background(), "a.example"); res.Status != domainflow.CheckOK {
				bad.Add(1)
				t.Errorf("check %d: %+v", i, res)
			}
		})
	}
	wg.Wait()
	st := r.TakeStats()
	if st[0].State != domainflow.ResolverDemoted || st[0].DemotedAt == nil || st[1].State != domainflow.ResolverActive {
		t.Errorf("states %+v; want the silent one demoted", st)
	}
	if st[0].Timeouts == 0 || st[1].Answers < 200 {
		t.Errorf("figures %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := silent.LocalAddr().String() + " demoted=true"; !slices.Contains(changes, want) {
		t.Errorf("state changes %v; want %q", changes, want)
	}
}

// Names found only by their MX or NS records are found; a name with
// addresses carries its NS and MX too.
func TestNSAndMX(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case name == "mail.test." && q.Qtype == dns.TypeMX:
			m.Answer = []dns.RR{rr(name + " 60 IN MX 10 mx1.mail.test."), rr(name + " 60 IN MX 20 mx2.mail.test.")}
		case name == "parked.test." && q.Qtype == dns.TypeNS:
			m.Answer = []dns.RR{rr(name + " 60 IN NS ns1.parking.test.")}
		case name == "web.test." && q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{rr(name + " 60 IN A 192.0.2.3")}
		case name == "web.test." && q.Qtype == dns.TypeNS:
			m.Answer = []dns.RR{rr(name + " 60 IN NS ns1.web.test."), rr(name + " 60 IN NS ns2.web.test.")}
		case name == "empty.test.", name == "mail.test.", name == "parked.test.", name == "web.test.":
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := startServer(t, h, false)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: 1000, Retries: 1, MaxAttempts: 2})
	ctx := context.Background()
	cases := []struct {
		name   string
		status string
		addrs  int
		ns     []string
		mx     []domainflow.MXRecord
	}{
		{"mail.test", domainflow.CheckOK, 0, nil, []domainflow.MXRecord{{Preference: 10, Host: "mx1.mail.test."}, {Preference: 20, Host: "mx2.mail.test."}}},
		{"parked.test", domainflow.CheckOK, 0, []string{"ns1.parking.test."}, nil},
		{"web.test", domainflow.CheckOK, 1, []string{"ns1.web.test.", "ns2.web.test."}, nil},
		{"empty.test", domainflow.CheckError, 0, nil, nil},
	}
	for _, c := range cases {
		res := r.Check(ctx, c.name)
		if res.Status != c.status || len(res.Addresses) != c.addrs || !slices.Equal(res.NS, c.ns) || !slices.Equal(res.MX, c.mx) {
			t.Errorf("%s: %+v; want %s, %d addresses, NS %v, MX %v", c.name, res, c.status, c.addrs, c.ns, c.mx)
		}
	}
	if res := r.Check(ctx, "empty.test"); res.Reason != domainflow.ReasonNoAnswer {
		t.Errorf("empty.test: %+v; want no_answer", res)
	}
}

// Alive tells a live resolver (NXDOMAIN is an answer) from a refused port,
// a silent one and one that refuses every query.
func TestAlive(t *testing.T) {
	live := startServer(t, zone(), false)
	refusing := startServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		w.WriteMsg(m)
	}), false)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	closed := deadPort(t)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{live.Addr, refusing.Addr, silent.LocalAddr().String(), closed},
		TimeoutMS: 200, Retries: 0, MaxAttempts: 1})
	got := r.Alive(context.Background(), ".example")
	want := []struct {
		alive  bool
		reason string
	}{{true, ""}, {false, "REFUSED"}, {false, "no reply"}, {false, "refused"}}
	for i, w := range want {
		if got[i].Alive != w.alive || !strings.Contains(got[i].Reason, w.reason) {
			t.Errorf("%s: %+v; want alive %v, reason with %q", got[i].Address, got[i], w.alive, w.reason)
		}
	}
}

// A zone that answers every name is found with its whole answer (from a
// pool of two addresses); one that answers only its own names is not.
func TestWildcards(t *testing.T) {
	var n atomic.Int64
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case strings.HasSuffix(name, ".wild.") && q.Qtype == dns.TypeA:
			addr := "192.0.2.50"
			if n.Add(1)%2 == 0 {
				addr = "192.0.2.51"
			}
			rr, _ := dns.NewRR(name + " 60 IN A " + addr)
			m.Answer = []dns.RR{rr}
		case strings.HasSuffix(name, ".wild."):
		case name == "shop.tame." && q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(name + " 60 IN A 192.0.2.60")
			m.Answer = []dns.RR{rr}
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := startServer(t, h, false)
	r := newResolver(t, domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: 1000, Retries: 1, MaxAttempts: 2})
	zones := r.Wildcards(context.Background(), domainflow.Zones([]string{".wild", ".tame"}), 4)
	if len(zones) != 1 || zones[0].Zone != ".wild" || !slices.Equal(zones[0].Addresses, []string{"192.0.2.50", "192.0.2.51"}) {
		t.Fatalf("wildcards %+v; want .wild with both pool addresses", zones)
	}
	for _, c := range []struct {
		name string
		zone string
	}{{"anything.wild", ".wild"}, {"shop.tame", ""}} {
		res := r.Check(context.Background(), c.name)
		if zone, ok := domainflow.WildcardOf(zones, c.name, res); zone != c.zone || ok != (c.zone != "") {
			t.Errorf("%s: wildcard %q %v; want %q", c.name, zone, ok, c.zone)
		}
	}
}
