package server

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// tokenCache remembers recent token → user answers for a short time, so that
// a client polling every second costs one database query a poll (the
// campaign's version), not two. A token is only ever added, never changed,
// so the only staleness is a deleted token working for up to ttl.
type tokenCache struct {
	store interface {
		Authenticate(ctx context.Context, token string) (uuid.UUID, error)
	}
	ttl time.Duration

	mu      sync.Mutex
	entries map[[32]byte]tokenEntry
}

type tokenEntry struct {
	user    uuid.UUID
	expires time.Time
}

// maxTokens bounds the cache; past it, the cache starts over.
const maxTokens = 10_000

func newTokenCache(store interface {
	Authenticate(ctx context.Context, token string) (uuid.UUID, error)
}, ttl time.Duration) *tokenCache {
	return &tokenCache{store: store, ttl: ttl, entries: map[[32]byte]tokenEntry{}}
}

// authenticate answers for token, whose SHA-256 is key (the caller needs
// the hash too, for the rate limiter, so it is computed once).
func (t *tokenCache) authenticate(ctx context.Context, key [32]byte, token string) (uuid.UUID, error) {
	now := time.Now()
	t.mu.Lock()
	e, ok := t.entries[key]
	t.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.user, nil
	}
	user, err := t.store.Authenticate(ctx, token)
	if err != nil {
		return uuid.Nil, err
	}
	t.mu.Lock()
	if len(t.entries) >= maxTokens {
		t.entries = map[[32]byte]tokenEntry{}
	}
	t.entries[key] = tokenEntry{user: user, expires: now.Add(t.ttl)}
	t.mu.Unlock()
	return user, nil
}
