package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
)

// authServer is an authoritative miekg/dns server on loopback that answers
// every name: a fixed share of names (chosen by a hash of the name, so the
// bench knows which in advance) get an A record 127.0.0.1, the rest NXDOMAIN.
// While recording, it notes the arrival time of every query.
type authServer struct {
	addr      string
	srv       *dns.Server
	threshold uint64 // a name resolves when its hash % 1,000,000 < threshold
	// only, when set, holds the names that exist: any other name is
	// NXDOMAIN whatever its hash (so that a random probe for a wildcard finds
	// nothing), except apex, the zone's own name, which exists without an
	// address.
	only map[string]struct{}
	apex string

	answered  atomic.Int64
	recording atomic.Bool
	next      atomic.Int64
	arrivals  []atomic.Int64 // UnixNano of each query while recording
}

var loopbackA = net.IPv4(127, 0, 0, 1).To4()

func startAuthServer(resolvingPct float64) (*authServer, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// As a real server would be tuned: the default buffer drops bursts of
	// hundreds of queries (net.core.rmem_max caps it).
	pc.(*net.UDPConn).SetReadBuffer(4 << 20)
	s := newAuthServer(resolvingPct)
	s.addr = pc.LocalAddr().String()
	if s.srv, err = serveDNS(pc, s); err != nil {
		return nil, err
	}
	return s, nil
}

// newAuthServer is an authServer that serves nothing yet: serveDNS serves it
// (or a handler wrapping it) on a socket.
func newAuthServer(resolvingPct float64) *authServer {
	return &authServer{threshold: uint64(resolvingPct * 10_000)}
}

// serveDNS serves h on pc until the returned server is shut down.
func serveDNS(pc net.PacketConn, h dns.Handler) (*dns.Server, error) {
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		return nil, fmt.Errorf("DNS server: %w", err)
	case <-time.After(5 * time.Second):
		pc.Close()
		return nil, errors.New("DNS server did not start")
	}
	return srv, nil
}

func (s *authServer) stop() { s.srv.Shutdown() }

// resolves reports whether the server answers name (lower case, without the
// final dot) with an address.
func (s *authServer) resolves(name string) bool {
	if s.only != nil {
		if _, ok := s.only[name]; !ok {
			return false
		}
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()%1_000_000 < s.threshold
}

func (s *authServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if s.recording.Load() {
		if i := s.next.Add(1) - 1; i < int64(len(s.arrivals)) {
			s.arrivals[i].Store(time.Now().UnixNano())
		}
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
		switch {
		case s.apex != "" && name == s.apex: // NOERROR, no data
		case s.resolves(name):
			if q.Qtype == dns.TypeA {
				m.Answer = []dns.RR{&dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
					A:   loopbackA,
				}}
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(1232, false)
	}
	w.WriteMsg(m)
	s.answered.Add(1)
}

// record starts noting query arrivals, for up to max queries.
func (s *authServer) record(max int) {
	s.arrivals = make([]atomic.Int64, max)
	s.next.Store(0)
	s.recording.Store(true)
}

// stopRecording stops noting arrivals and returns them, sorted.
func (s *authServer) stopRecording() []int64 {
	s.recording.Store(false)
	n := min(s.next.Load(), int64(len(s.arrivals)))
	out := make([]int64, 0, n)
	for i := range n {
		if v := s.arrivals[i].Load(); v != 0 {
			out = append(out, v)
		}
	}
	s.arrivals = nil
	slices.Sort(out)
	return out
}

// expectedResolving counts the names of [0, n) the server answers.
func (s *authServer) expectedResolving(gen *generate.Generator, n int64) int64 {
	var k int64
	var buf []byte
	for i := range n {
		buf = gen.AppendName(buf[:0], i)
		if s.resolves(string(buf)) {
			k++
		}
	}
	return k
}

// peers are the servers an engine campaign of the bench talks to: the
// authoritative DNS server and the web server its resolving names point at.
type peers struct {
	dns  *authServer
	web  *httptest.Server
	port int
}

func startPeers(resolvingPct float64) (*peers, error) {
	srv, err := startAuthServer(resolvingPct)
	if err != nil {
		return nil, err
	}
	web, port, err := pageServer()
	if err != nil {
		srv.stop()
		return nil, err
	}
	return &peers{dns: srv, web: web, port: port}, nil
}

func (p *peers) stop() {
	p.web.Close()
	p.dns.stop()
}

// config is a campaign of n names resolved by p.dns and fetched from p.web.
func (p *peers) config(o options, n int64) domainflow.CampaignConfig {
	return dnsCampaignConfig(o, n, p.dns.addr, p.port)
}

// pageServer is the tiny HTTP server the resolving names point at.
func pageServer() (*httptest.Server, int, error) {
	page := []byte("<!doctype html><html><head><title>Shop sale</title></head><body><h1>shop</h1><p>Everything on sale.</p></body></html>")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		srv.Close()
		return nil, 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		srv.Close()
		return nil, 0, err
	}
	return srv, p, nil
}
