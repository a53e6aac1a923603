package dnscheck_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/dnscheck"
	"github.com/domainflow/domainflow/internal/dnsload"
)

// The benchmarks run an in-process miekg/dns authoritative server on
// loopback that answers every A question with one address. The server, the
// client under test and the load generator all share this machine's cores
// (2 where this was written), so the numbers are what the client achieves
// while competing with the server for CPU, not against a server with cores
// of its own.

const benchConcurrency = 256

var benchA = net.IPv4(192, 0, 2, 1).To4()

func benchHandler() dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A:   benchA,
			}}
		}
		w.WriteMsg(m)
	})
}

func benchName(i int64) string { return "d" + strconv.FormatInt(i, 36) + ".bench.test" }

// runWorkers calls fn(i) for i in [0, n) from `workers` goroutines and
// returns the elapsed time.
func runWorkers(n int64, workers int, fn func(i int64)) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// serverCapacity measures the server's own capacity with the shared load
// loop, over the names the benchmarks ask for.
func serverCapacity(tb testing.TB, addr string, d time.Duration, socks, window int) float64 {
	tb.Helper()
	names := make([]string, 4096)
	for i := range names {
		names[i] = benchName(int64(i))
	}
	qps, err := dnsload.Capacity(addr, names, d, socks, window)
	if err != nil {
		tb.Fatal(err)
	}
	return qps
}

// interleaved runs fn over [0, n) with benchConcurrency workers, in chunks
// of about 200 ms, and after each chunk runs the baseline load loop against
// the server for as long as the chunk took. Alternating slices keep the
// ratio fair on a noisy machine whose speed drifts from second to second.
// It returns the lookups per second of fn and the server's capacity in
// queries per second. Short calibration runs (n small) skip the baseline
// and reuse the last one measured.
func interleaved(b *testing.B, addr string, n int64, fn func(i int64)) (lps, qps float64) {
	var done int64
	var work, base time.Duration
	var replies float64
	chunk := min(n, 2000)
	for done < n {
		k := min(chunk, n-done)
		lo := done
		b.StartTimer()
		d := runWorkers(k, benchConcurrency, func(i int64) { fn(lo + i) })
		b.StopTimer()
		done += k
		work += d
		if d > 0 {
			chunk = max(1000, int64(float64(k)*float64(200*time.Millisecond)/float64(d)))
		}
		if d > 50*time.Millisecond || n-done == 0 && base == 0 && d > 5*time.Millisecond {
			replies += serverCapacity(b, addr, d, 4, benchConcurrency/4) * d.Seconds()
			base += d
		}
	}
	lps = float64(n) / work.Seconds()
	capacity.Lock()
	defer capacity.Unlock()
	if base > 200*time.Millisecond || capacity.qps == 0 {
		capacity.qps = replies / base.Seconds()
	}
	return lps, capacity.qps
}

// capacity remembers the last baseline measured.
var capacity struct {
	sync.Mutex
	qps float64
}

func report(b *testing.B, lps, qps float64) {
	b.ReportMetric(lps, "lookups/s")
	b.ReportMetric(qps, "server-qps")
	b.ReportMetric(100*lps/qps, "%-of-server")
}

// BenchmarkCheck measures lookups per second through Resolver.Check with
// 256 concurrent callers and, interleaved with it in the same run, the
// server's own capacity under the lean load loop of serverCapacity; it
// reports both and the ratio.
func BenchmarkCheck(b *testing.B) {
	srv := startServer(b, benchHandler(), false)
	r, err := dnscheck.New(domainflow.DNSConfig{Resolvers: []string{srv.Addr}, TimeoutMS: 2000, Retries: 1}, openLoopback)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()

	var failed atomic.Int64
	var firstErr atomic.Value
	ctx := context.Background()
	b.StopTimer()
	b.ResetTimer()
	lps, qps := interleaved(b, srv.Addr, int64(b.N), func(i int64) {
		res := r.Check(ctx, benchName(i))
		if res.Status != domainflow.CheckOK {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Sprintf("%s/%s %s", res.Status, res.Reason, res.Error))
		}
	})
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d checks failed, first: %v", n, b.N, firstErr.Load())
	}
	report(b, lps, qps)
}

// BenchmarkExchangePlain is the design alternative Check was measured
// against: miekg/dns's Client.ExchangeContext, which dials a new UDP socket
// for every query, with the same 256 concurrent callers, and no result
// processing at all.
func BenchmarkExchangePlain(b *testing.B) {
	srv := startServer(b, benchHandler(), false)
	c := &dns.Client{Timeout: 2 * time.Second}
	var failed atomic.Int64
	ctx := context.Background()
	b.StopTimer()
	b.ResetTimer()
	lps, qps := interleaved(b, srv.Addr, int64(b.N), func(i int64) {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(benchName(i)), dns.TypeA)
		q.SetEdns0(1232, false)
		m, _, err := c.ExchangeContext(ctx, q, srv.Addr)
		if err != nil || len(m.Answer) == 0 {
			failed.Add(1)
		}
	})
	if n := failed.Load(); n > 0 {
		b.Logf("%d of %d exchanges failed", n, b.N)
	}
	report(b, lps, qps)
}

// BenchmarkServerCapacity runs the baseline load loop alone, with a few
// window sizes, to show where the server saturates.
func BenchmarkServerCapacity(b *testing.B) {
	if os.Getenv("DNSCHECK_BENCH_ALL") == "" {
		b.Skip("set DNSCHECK_BENCH_ALL=1 to run")
	}
	srv := startServer(b, benchHandler(), false)
	for _, w := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("window=%d", w*4), func(b *testing.B) {
			for range b.N {
				b.ReportMetric(serverCapacity(b, srv.Addr, time.Second, 4, w), "server-qps")
			}
		})
	}
}
