package server

import (
	"context"
	"crypto/sha256"
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

func (t *tokenCache) authenticate(ctx context.Context, token string) (uuid.UUID, error) {
	key := sha256.Sum256([]byte(token))
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
