package server

import (
	"context"
	"sync"
	"time"

	"github.com/domainflow/domainflow"
)

// tokenStore is what the token cache asks the store.
type tokenStore interface {
	Authenticate(ctx context.Context, token string) (*domainflow.Access, error)
	Revocations(ctx context.Context) (int64, error)
}

// tokenCache remembers what recent tokens grant, so that a client making
// many requests costs one token lookup a minute (when its use is written),
// not one a request.
//
// A revoked token must be refused by every instance within a second, so
// the cache never trusts an entry blindly: it trusts it while the store's
// count of revocations is still the one it read before looking the token
// up, and it reads that count again (one row) whenever the last reading
// started more than recheck before the request. A revocation anywhere —
// through any instance, or the CLI — moves the count and sends every token
// to the store again; revocations are rare, so that is cheap. Expiry is
// checked at every request against the entry's own expires_at.
type tokenCache struct {
	store   tokenStore
	maxAge  time.Duration // an entry is looked up again after this
	recheck time.Duration // how old a reading of the count may be when an entry is trusted

	mu      sync.Mutex
	entries map[[32]byte]tokenEntry
	revoked int64         // the count as last read; -1 before the first reading
	readAt  time.Time     // when that reading started
	reading chan struct{} // closed when the reading in flight ends; nil when none is
	resets  uint64        // calls of revokedHere, so that a reading begun before one is not taken as fresh
}

type tokenEntry struct {
	access  domainflow.Access
	revoked int64 // the count read before the token was looked up
	until   time.Time
}

// maxTokens bounds the cache; past it, the cache starts over.
const maxTokens = 10_000

// Defaults of a token cache: an entry lives a minute (so a token's last use
// is written at most once a minute by each instance), and a revocation is
// seen within a quarter of a second.
const (
	tokenCacheMaxAge  = domainflow.TokenUseInterval
	tokenCacheRecheck = 250 * time.Millisecond
)

func newTokenCache(store tokenStore, maxAge, recheck time.Duration) *tokenCache {
	return &tokenCache{store: store, maxAge: maxAge, recheck: recheck, revoked: -1, entries: map[[32]byte]tokenEntry{}}
}

var errTokenExpired = domainflow.Errorf(domainflow.EUNAUTHORIZED, "The token has expired.")

// authenticate answers for token, whose SHA-256 is key (the caller needs
// the hash too, for the rate limiter, so it is computed once).
func (t *tokenCache) authenticate(ctx context.Context, key [32]byte, token string) (*domainflow.Access, error) {
	now := time.Now()
	t.mu.Lock()
	e, ok := t.entries[key]
	t.mu.Unlock()
	if ok && now.Before(e.until) && e.access.Expired(now) {
		t.forgetEntry(key)
		return nil, errTokenExpired
	}
	revoked, err := t.revocations(ctx, now)
	if err != nil {
		return nil, err
	}
	if ok && now.Before(e.until) && revoked == e.revoked {
		a := e.access
		return &a, nil
	}
	// The count was read before this lookup: a revocation the lookup does
	// not see moves the count past it, and the entry is not trusted again.
	a, err := t.store.Authenticate(ctx, token)
	if err != nil {
		if ok {
			t.forgetEntry(key)
		}
		return nil, err
	}
	t.mu.Lock()
	if len(t.entries) >= maxTokens {
		t.entries = map[[32]byte]tokenEntry{}
	}
	t.entries[key] = tokenEntry{access: *a, revoked: revoked, until: now.Add(t.maxAge)}
	t.mu.Unlock()
	return a, nil
}

// revocations returns the store's count of revocations as read by a
// reading that started less than recheck before now. One reading is in
// flight at a time; requests needing a fresher one than there is wait for
// it.
func (t *tokenCache) revocations(ctx context.Context, now time.Time) (int64, error) {
	for {
		t.mu.Lock()
		if t.revoked >= 0 && now.Sub(t.readAt) < t.recheck {
			n := t.revoked
			t.mu.Unlock()
			return n, nil
		}
		if wait := t.reading; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		done := make(chan struct{})
		t.reading = done
		start, resets := time.Now(), t.resets
		t.mu.Unlock()

		n, err := t.store.Revocations(ctx)
		t.mu.Lock()
		t.reading = nil
		close(done)
		if err == nil && resets == t.resets {
			t.revoked, t.readAt = n, start
		}
		t.mu.Unlock()
		return n, err
	}
}

// revokedHere makes the next request read the count of revocations again:
// a token revoked through this instance is refused here at once.
func (t *tokenCache) revokedHere() {
	t.mu.Lock()
	t.readAt = time.Time{}
	t.resets++
	t.mu.Unlock()
}

func (t *tokenCache) forgetEntry(key [32]byte) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}
