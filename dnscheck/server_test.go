package dnscheck_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testServer is a miekg/dns authoritative server on 127.0.0.1 (UDP, and TCP
// on the same port when asked), stopped by t.Cleanup or b.Cleanup.
type testServer struct {
	Addr string
	udp  *dns.Server
	tcp  *dns.Server
}

// startServer starts handler on a random loopback port.
func startServer(tb testing.TB, handler dns.Handler, withTCP bool) *testServer {
	tb.Helper()
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		// A receive buffer big enough for the bursts of the concurrency
		// tests and benchmarks (net.core.rmem_max caps it), as a real
		// server would be tuned: the default drops queries under load.
		pc.(*net.UDPConn).SetReadBuffer(4 << 20)
		ts := &testServer{Addr: pc.LocalAddr().String()}
		var ln net.Listener
		if withTCP {
			// The same port number over TCP; it may be taken, then try again.
			if ln, err = net.Listen("tcp", ts.Addr); err != nil {
				pc.Close()
				lastErr = err
				continue
			}
		}
		ts.udp = serve(tb, &dns.Server{PacketConn: pc, Handler: handler})
		if ln != nil {
			ts.tcp = serve(tb, &dns.Server{Listener: ln, Handler: handler})
		}
		tb.Cleanup(func() {
			ts.udp.Shutdown()
			if ts.tcp != nil {
				ts.tcp.Shutdown()
			}
		})
		return ts
	}
	tb.Fatalf("no free UDP+TCP port: %v", lastErr)
	return nil
}

// serve starts srv and waits until it is ready.
func serve(tb testing.TB, srv *dns.Server) *dns.Server {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		tb.Fatal("DNS server did not start")
	}
	return srv
}

// startRawUDP runs fn for every datagram that arrives on a random loopback
// port until the test ends, and sends back the datagrams fn returns.
func startRawUDP(tb testing.TB, fn func(req []byte) [][]byte) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, out := range fn(buf[:n]) {
				pc.WriteTo(out, from)
			}
		}
	}()
	tb.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}
