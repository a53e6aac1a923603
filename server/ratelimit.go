package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/domainflow/domainflow"
)

// RateLimit is the per-token request budget: Rate requests a second with
// bursts of Burst. Rate 0 turns limiting off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// limiter keeps one token bucket per key (a token's hash, or a client
// address for requests without a valid token). Buckets that have been idle
// long enough to be full again are forgotten, so the map stays small.
// Limits are per instance: N instances behind a load balancer allow up to N
// times the rate.
type limiter struct {
	cfg     RateLimit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newLimiter(cfg RateLimit) *limiter {
	return &limiter{cfg: cfg, buckets: map[string]*bucket{}}
}

// admit checks that key's bucket holds a request and sets the rate-limit
// headers as if this request were taken from it. The request is only taken
// (take) once its answer is known, because a 304 costs nothing. When the
// bucket is empty it answers a rate_limited error saying when to come back.
func (l *limiter) admit(c echo.Context, key string) (*bucket, error) {
	now := time.Now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)}
		l.buckets[key] = b
	}
	b.used = now
	l.sweep(now)
	l.mu.Unlock()

	tokens := b.lim.TokensAt(now)
	h := c.Response().Header()
	h.Set("X-RateLimit-Limit", strconv.FormatFloat(l.cfg.Rate, 'f', -1, 64))
	if tokens < 1 {
		wait := (1 - tokens) / l.cfg.Rate
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", seconds((float64(l.cfg.Burst)-tokens)/l.cfg.Rate))
		h.Set("Retry-After", seconds(wait))
		return nil, domainflow.Errorf(domainflow.ERATELIMITED, "Too many requests: at most %s a second (bursts of %d). Retry after %s s.",
			strconv.FormatFloat(l.cfg.Rate, 'f', -1, 64), l.cfg.Burst, seconds(wait))
	}
	h.Set("X-RateLimit-Remaining", strconv.Itoa(int(math.Floor(tokens-1))))
	h.Set("X-RateLimit-Reset", seconds((float64(l.cfg.Burst)-tokens+1)/l.cfg.Rate))
	return b, nil
}

// take charges the request to the bucket unless it was answered 304: a poll
// that found nothing new costs the client nothing. Requests admitted at the
// same moment may leave the bucket in debt, which later requests wait out.
func (b *bucket) take(c echo.Context) {
	if b != nil && c.Response().Status != http.StatusNotModified {
		b.lim.ReserveN(time.Now(), 1)
	}
}

// sweep forgets buckets idle for longer than it takes them to refill; it
// runs at most once a minute. The caller holds l.mu.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	full := time.Duration(float64(l.cfg.Burst)/l.cfg.Rate*float64(time.Second)) + time.Second
	for k, b := range l.buckets {
		if now.Sub(b.used) > full {
			delete(l.buckets, k)
		}
	}
}

// seconds rounds up to whole seconds, as the headers want.
func seconds(s float64) string {
	return strconv.Itoa(int(math.Ceil(math.Max(0, s))))
}
