package engine

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

const (
	// maxFailures is how many failed steps in a row (the database being
	// down aside) fail a campaign.
	maxFailures = 10
	// The pause before a failed step is tried again: retryFirst, doubling
	// with each failure in a row up to retryMax, with jitter.
	retryFirst = 500 * time.Millisecond
	retryMax   = 10 * time.Second
)

// retryDelay is the pause after the nth failure in a row (n ≥ 1).
func retryDelay(n int) time.Duration {
	d := retryMax
	if n < 16 {
		d = min(retryFirst<<(n-1), retryMax)
	}
	// ±20%, so that campaigns hit by the same outage do not retry in step.
	return d - d/5 + rand.N(2*d/5+1)
}

// failures counts the failed steps in a row of each campaign this instance
// worked. It lives in memory: another instance that works the campaign
// meanwhile does not clear it here, so a count whose last failure is older
// than failuresForget starts over (a campaign failing in a row retries
// within retryMax).
type failures struct {
	mu sync.Mutex
	n  map[uuid.UUID]failureRun
}

type failureRun struct {
	count int
	last  time.Time
}

const failuresForget = 3 * retryMax

func (f *failures) add(id uuid.UUID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[uuid.UUID]failureRun{}
	}
	r := f.n[id]
	if time.Since(r.last) > failuresForget {
		r.count = 0
	}
	r.count++
	r.last = time.Now()
	f.n[id] = r
	return r.count
}

func (f *failures) reset(id uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, id)
}

// unavailable reports whether err says the database could not be reached
// (the store says so with EUNAVAILABLE), as opposed to a query it refused:
// waiting is then the only cure.
func unavailable(err error) bool {
	return domainflow.ErrorCode(err) == domainflow.EUNAVAILABLE
}
