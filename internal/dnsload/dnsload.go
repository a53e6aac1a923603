// Package dnsload is the load loop that measures a DNS server's own
// capacity: the ceiling the DNS validation benchmarks (dnscheck's and make
// bench's) compare the resolver and the engine against.
package dnsload

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Capacity measures how many queries per second the DNS server at addr
// answers to a lean load loop: pre-packed A queries for names over `socks`
// connected UDP sockets, each keeping `window` queries in flight and sending
// a new one for every reply, the way dnsperf works; a socket stalled for
// 500 ms re-sends its window. The first 100 ms (or d/5) are warm-up.
func Capacity(addr string, names []string, d time.Duration, socks, window int) (float64, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return 0, err
	}
	pkts := make([][]byte, len(names))
	for i, n := range names {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(n), dns.TypeA)
		q.SetEdns0(1232, false)
		if pkts[i], err = q.Pack(); err != nil {
			return 0, err
		}
	}
	var total atomic.Int64
	warm := time.Now().Add(min(d/5, 100*time.Millisecond))
	end := warm.Add(d)
	var wg sync.WaitGroup
	conns := make([]*net.UDPConn, socks)
	for i := range conns {
		if conns[i], err = net.DialUDP("udp", nil, raddr); err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return 0, err
		}
		conns[i].SetReadBuffer(4 << 20)
	}
	for si, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			buf := make([]byte, 2048)
			pkt := make([]byte, 0, 512)
			seq := si * 7919
			send := func() {
				pkt = append(pkt[:0], pkts[seq%len(pkts)]...)
				pkt[0], pkt[1] = byte(seq>>8), byte(seq)
				seq++
				conn.Write(pkt)
			}
			for range window {
				send()
			}
			var n int64
			for {
				now := time.Now()
				if now.After(end) {
					break
				}
				rd := min(now.Add(500*time.Millisecond).UnixNano(), end.UnixNano())
				conn.SetReadDeadline(time.Unix(0, rd))
				if _, err := conn.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(end) {
						for range window { // stalled: what was in flight is lost
							send()
						}
					}
					continue
				}
				if !now.Before(warm) {
					n++
				}
				send()
			}
			// Drain what is in flight, so the server is idle afterwards.
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for range window {
				if _, err := conn.Read(buf); err != nil {
					break
				}
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return float64(total.Load()) / d.Seconds(), nil
}
