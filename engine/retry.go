package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

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
// worked. It lives in memory: an instance that takes a campaign over starts
// from zero, which at worst gives the campaign a few more tries.
type failures struct {
	mu sync.Mutex
	n  map[uuid.UUID]int
}

func (f *failures) add(id uuid.UUID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[uuid.UUID]int{}
	}
	f.n[id]++
	return f.n[id]
}

func (f *failures) reset(id uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, id)
}

// unavailable reports whether err says the database could not be reached
// (as opposed to a query it refused): waiting is then the only cure.
func unavailable(err error) bool {
	if domainflow.ErrorCode(err) == domainflow.EUNAVAILABLE || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 (connection exception), 57P01–57P03 (the server shutting
		// down or starting up), 53300 (too many connections).
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	return false
}
