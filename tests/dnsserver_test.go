package tests

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsAction is what the test DNS server does with a query for a name.
type dnsAction int

const (
	dnsAnswer    dnsAction = iota // NOERROR with A 127.0.0.1 (no AAAA records)
	dnsNXDomain                   // NXDOMAIN
	dnsServFail                   // SERVFAIL
	dnsRefused                    // REFUSED
	dnsNoData                     // NOERROR without any record
	dnsDrop                       // no reply at all: the resolver times out
	dnsGarbage                    // a reply with the query's ID that does not parse
	dnsWildcardA                  // NOERROR with A 127.0.0.2: the answer of a wildcard zone
	dnsMXOnly                     // MX records only: a registered domain without an address
	dnsNSOnly                     // NS records only (a delegated, parked domain)
)

func (a dnsAction) String() string {
	return [...]string{"answer", "nxdomain", "servfail", "refused", "nodata", "drop", "garbage", "wildcard", "mx-only", "ns-only"}[a]
}

// testDNS is an authoritative DNS server (miekg/dns) on a loopback UDP port
// that answers each name as rule says, optionally after a delay, and counts
// the queries it gets.
type testDNS struct {
	Addr  string // host:port, as a campaign's dns.resolvers names it
	rule  func(name string) dnsAction
	delay time.Duration

	total   atomic.Int64
	mu      sync.Mutex
	queries map[string]int // per name (lowercase, no trailing dot), every type together

	// loss, when set, drops that share of all queries at random (from a
	// seeded source: every run drops alike), as a lossy link does.
	loss    float64
	rng     *mrand.Rand
	dropped atomic.Int64

	// gate, while set, holds every answer until it is closed; waiting
	// counts the queries it holds.
	gate    atomic.Pointer[chan struct{}]
	waiting atomic.Int64
}

// hold keeps the server's answers from now on until release is called, so
// that a test can act while checks are certainly in flight.
func (d *testDNS) hold() (release func()) {
	ch := make(chan struct{})
	d.gate.Store(&ch)
	return func() {
		if d.gate.CompareAndSwap(&ch, nil) {
			close(ch)
		}
	}
}

// waitHeld waits (at most 10s) until the server holds at least n queries.
func (d *testDNS) waitHeld(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); d.waiting.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the DNS server holds %d queries after 10s; want %d", d.waiting.Load(), n)
		}
	}
}

// startLossyDNS is startDNS behind a link that drops share of the queries.
func startLossyDNS(t *testing.T, share float64, seed uint64, rule func(name string) dnsAction) *testDNS {
	d := startDNS(t, 0, rule)
	d.mu.Lock()
	d.loss, d.rng = share, mrand.New(mrand.NewPCG(seed, seed+1))
	d.mu.Unlock()
	return d
}

// startDNS starts a server answering by rule (names are lowercase without
// the trailing dot); it is shut down when the test ends.
func startDNS(t *testing.T, delay time.Duration, rule func(name string) dnsAction) *testDNS {
	t.Helper()
	return startDNSOn(t, "127.0.0.1", delay, rule)
}

// startDNSOn is startDNS on another loopback address (all of 127.0.0.0/8
// is loopback on Linux).
func startDNSOn(t *testing.T, ip string, delay time.Duration, rule func(name string) dnsAction) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("dns server: listen: %v", err)
	}
	d := &testDNS{Addr: pc.LocalAddr().String(), rule: rule, delay: delay, queries: map[string]int{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("dns server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("dns server did not start within 10s")
	}
	t.Cleanup(func() {
		// Answers still held (a test that failed before its release) must
		// go, or the shutdown would wait for them for good.
		if g := d.gate.Swap(nil); g != nil {
			close(*g)
		}
		srv.Shutdown()
	})
	return d
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	d.total.Add(1)
	d.mu.Lock()
	d.queries[name]++
	lost := d.loss > 0 && d.rng.Float64() < d.loss
	d.mu.Unlock()
	if lost {
		d.dropped.Add(1)
		return
	}
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	if g := d.gate.Load(); g != nil {
		d.waiting.Add(1)
		<-*g
		d.waiting.Add(-1)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch d.rule(name) {
	case dnsAnswer:
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 1),
			})
		}
	case dnsNXDomain:
		m.Rcode = dns.RcodeNameError
	case dnsServFail:
		m.Rcode = dns.RcodeServerFailure
	case dnsRefused:
		m.Rcode = dns.RcodeRefused
	case dnsWildcardA:
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 2),
			})
		}
	case dnsMXOnly:
		if q.Qtype == dns.TypeMX {
			m.Answer = append(m.Answer, &dns.MX{
				Hdr:        dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
				Preference: 10, Mx: "mail." + q.Name,
			})
		}
	case dnsNSOnly:
		if q.Qtype == dns.TypeNS {
			m.Answer = append(m.Answer, &dns.NS{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60},
				Ns:  "ns1.parking.example.",
			})
		}
	case dnsNoData:
	case dnsDrop:
		return
	case dnsGarbage:
		// The query's ID, QR set, no question (so that the resolver takes
		// it for this query's reply), then five answers' worth of nothing.
		b := []byte{byte(r.Id >> 8), byte(r.Id), 0x81, 0x80, 0, 0, 0, 5, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef}
		w.Write(b)
		return
	}
	w.WriteMsg(m)
}

// Queries returns how many queries the server got for name.
func (d *testDNS) Queries(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[name]
}

// startGarbageResolver starts a raw UDP listener that answers every
// datagram with bytes that are no DNS reply to it: a short scrap and a
// random packet whose question matches nothing asked. It stops when the
// test ends and reports how many datagrams it got.
func startGarbageResolver(t *testing.T) (addr string, got *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("garbage resolver: listen: %v", err)
	}
	got = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got.Add(1)
			pc.WriteTo([]byte("\x00garbage"), from)
			junk := make([]byte, 64)
			rand.Read(junk)
			junk[4], junk[5] = 0, 1 // one "question", which cannot match
			pc.WriteTo(junk, from)
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String(), got
}
