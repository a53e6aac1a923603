package server

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// countingStore is a real store that counts what the token cache asks it.
type countingStore struct {
	*store.DB
	lookups, readings atomic.Int64
}

func (s *countingStore) Authenticate(ctx context.Context, token string) (*domainflow.Access, error) {
	s.lookups.Add(1)
	return s.DB.Authenticate(ctx, token)
}

func (s *countingStore) Revocations(ctx context.Context) (int64, error) {
	s.readings.Add(1)
	return s.DB.Revocations(ctx)
}

func cacheFixture(t *testing.T, db *store.DB) (*countingStore, *domainflow.Token, string) {
	t.Helper()
	u, err := db.EnsureUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok, secret, err := db.IssueToken(context.Background(), domainflow.NewToken{UserID: u.ID, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return &countingStore{DB: db}, tok, secret
}

func TestTokenCacheRemembersUntilARevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, tok, secret := cacheFixture(t, db)
		const recheck = 100 * time.Millisecond
		c := newTokenCache(s, time.Minute, recheck)
		key := sha256.Sum256([]byte(secret))
		auth := func() error {
			a, err := c.authenticate(ctx, key, secret)
			if err == nil && a.TokenID != tok.ID {
				t.Fatalf("access %+v; want token %v", a, tok.ID)
			}
			return err
		}

		for range 20 {
			if err := auth(); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.lookups.Load(); n != 1 {
			t.Errorf("%d lookups for 20 requests in a row; want 1", n)
		}
		if n := s.readings.Load(); n > 2 {
			t.Errorf("%d readings of the revocation count within %v; want at most 2", n, recheck)
		}

		// Another user's token revoked elsewhere (another instance, the
		// CLI): the count moves, and the token is looked up again, once.
		other, err := db.EnsureUser(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		bobs, _, err := db.IssueToken(ctx, domainflow.NewToken{UserID: other.ID, Name: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, other.ID, bobs.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(recheck)
		for range 5 {
			if err := auth(); err != nil {
				t.Fatalf("alice's token after bob's was revoked: %v", err)
			}
		}
		if n := s.lookups.Load(); n != 2 {
			t.Errorf("%d lookups; want 2 (one more after a revocation)", n)
		}

		// The token itself revoked elsewhere: refused once the last reading
		// of the count is older than recheck.
		if err := auth(); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, tok.UserID, tok.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(recheck)
		if err := auth(); domainflow.ErrorCode(err) != domainflow.EUNAUTHORIZED {
			t.Fatalf("a token revoked %v ago: %v; want unauthorized", recheck, err)
		}
	})
}

func TestTokenCacheRevokedHere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, tok, secret := cacheFixture(t, db)
		c := newTokenCache(s, time.Minute, time.Hour) // the count is never stale by age
		key := sha256.Sum256([]byte(secret))
		if _, err := c.authenticate(ctx, key, secret); err != nil {
			t.Fatal(err)
		}
		if _, err := c.authenticate(ctx, key, secret); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, tok.UserID, tok.ID); err != nil {
			t.Fatal(err)
		}
		c.revokedHere()
		if _, err := c.authenticate(ctx, key, secret); domainflow.ErrorCode(err) != domainflow.EUNAUTHORIZED {
			t.Fatalf("a token revoked through this instance: %v; want unauthorized at once", err)
		}
	})
}

func TestTokenCacheChecksExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, tok, secret := cacheFixture(t, db)
		expires := time.Now().UTC().Add(300 * time.Millisecond)
		if err := db.Gorm().Exec("UPDATE api_tokens SET expires_at = ? WHERE id = ?", expires, tok.ID).Error; err != nil {
			t.Fatal(err)
		}
		c := newTokenCache(s, time.Minute, time.Hour)
		key := sha256.Sum256([]byte(secret))
		if _, err := c.authenticate(ctx, key, secret); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(expires))
		_, err := c.authenticate(ctx, key, secret)
		if domainflow.ErrorCode(err) != domainflow.EUNAUTHORIZED || domainflow.ErrorMessage(err) != "The token has expired." {
			t.Errorf("a remembered token past its expiry: %v; want unauthorized, expired", err)
		}
		if n := s.lookups.Load(); n != 1 {
			t.Errorf("%d lookups; want 1 (expiry is the entry's own)", n)
		}
	})
}

// Requests arriving together when the count is stale share one reading.
func TestTokenCacheReadsTheCountOnceForConcurrentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _, secret := cacheFixture(t, db)
		c := newTokenCache(s, time.Minute, time.Hour)
		key := sha256.Sum256([]byte(secret))
		if _, err := c.authenticate(ctx, key, secret); err != nil {
			t.Fatal(err)
		}
		c.revokedHere()
		before := s.readings.Load()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if _, err := c.authenticate(ctx, key, secret); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := s.readings.Load() - before; n != 1 {
			t.Errorf("%d readings of the count for 32 requests at once; want 1", n)
		}
	})
}
