package httpcheck_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
)

// BenchmarkCheck measures checks per second against a local server with 64
// concurrent callers (as the engine would run them). Each Check opens its own
// connection, as checks of distinct domains do.
func BenchmarkCheck(b *testing.B) {
	body := html("Benchmark shop", "widgets, gadgets and pricing "+string(make([]byte, 0)))
	srv := httptest.NewServer(page(body))
	defer srv.Close()
	cfg := config(portOf(srv.URL))
	cfg.Keywords = []string{"widgets", "pricing", "absent"}
	cfg.Concurrency = 64
	c, err := httpcheck.New(cfg, nil, openLoopback)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	const workers = 64
	var next, failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if r := c.Check(context.Background(), testName, loopback); r.Status != domainflow.CheckOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d checks failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
