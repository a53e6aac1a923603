package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/domainflow/domainflow/store"
)

// A request without a valid token is charged to its client's address. The
// address is the TCP peer's, whatever X-Forwarded-For says, unless the peer
// is a proxy the operator trusts (--trusted-proxies); then it is the address
// the proxy forwarded. (The database plays no part: SQLite only.)
func TestRateLimitByClientAddress(t *testing.T) {
	t.Parallel()
	// Three requests, then one every 100 s: nothing refills during the test.
	limit := []string{"--rate-limit", "0.01", "--rate-burst", "3"}
	const burst = 3

	// statuses sends n anonymous requests, the i-th with the
	// X-Forwarded-For xff(i) ("" for none), and returns their statuses;
	// each 429 must say when to come back.
	statuses := func(ctx context.Context, t *testing.T, s *testServer, n int, xff func(i int) string) []int {
		t.Helper()
		var got []int
		for i := range n {
			var headers []string
			if h := xff(i); h != "" {
				headers = []string{"X-Forwarded-For", h}
			}
			r := rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/campaigns", nil, headers...)
			got = append(got, r.Status)
			if r.Status == http.StatusTooManyRequests {
				checkProblem(t, "request over the limit", r, nil, 429, "rate_limited")
				if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("429 with Retry-After %q, want a number of seconds", r.Header.Get("Retry-After"))
				}
			}
		}
		return got
	}
	rotating := func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }
	fixed := func(int) string { return "198.51.100.7" }
	limited := func(n int) []int { // burst 401s, then 429s
		want := slices.Repeat([]int{401}, burst)
		return append(want, slices.Repeat([]int{429}, n-burst)...)
	}

	t.Run("no trusted proxies", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		s := startServer(t, store.SQLite, limit...)
		if got := statuses(ctx, t, s, 2*burst, rotating); !slices.Equal(got, limited(2*burst)) {
			t.Errorf("with a new X-Forwarded-For each time: statuses %v, want %v (the header must not buy a new budget)", got, limited(2*burst))
		}
	})

	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		s := startServer(t, store.SQLite, append(limit, "--trusted-proxies", "127.0.0.1/32")...)
		if got := statuses(ctx, t, s, 2*burst, rotating); !slices.Equal(got, slices.Repeat([]int{401}, 2*burst)) {
			t.Errorf("a different forwarded client each time: statuses %v, want all 401 (each has a budget of its own)", got)
		}
		if got := statuses(ctx, t, s, 2*burst, fixed); !slices.Equal(got, limited(2*burst)) {
			t.Errorf("one forwarded client: statuses %v, want %v", got, limited(2*burst))
		}
		// The proxy's own requests are charged to the proxy.
		if got := statuses(ctx, t, s, 2*burst, func(int) string { return "" }); !slices.Equal(got, limited(2*burst)) {
			t.Errorf("no X-Forwarded-For: statuses %v, want %v", got, limited(2*burst))
		}
	})

	t.Run("a bad CIDR stops the start", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		for _, bad := range []string{"10.0.0.0/33", "127.0.0.1/32,proxy.example"} {
			serveRefuses(ctx, t, "serve --trusted-proxies "+bad, os.Environ(), []string{"serve", "--addr", "127.0.0.1:0",
				"--database-url", "sqlite://" + t.TempDir() + "/domainflow.db", "--trusted-proxies", bad}, "trusted-proxies")
		}
	})
}
