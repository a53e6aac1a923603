package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

var tokenShape = regexp.MustCompile(`^dfl_[0-9A-Za-z]{43}$`)

func issue(t *testing.T, db *store.DB, n domainflow.NewToken) (*domainflow.Token, string) {
	t.Helper()
	tok, secret, err := db.IssueToken(ctx, n)
	if err != nil {
		t.Fatalf("IssueToken(%+v): %v", n, err)
	}
	return tok, secret
}

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		if again := newUser(t, db, "alice"); again != alice {
			t.Fatalf("EnsureUser made a second alice")
		}
		tok, secret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "laptop", Lifetime: time.Hour})
		if !tokenShape.MatchString(secret) {
			t.Errorf("secret %q is not dfl_ and 43 letters and digits", secret)
		}
		if tok.Hint != "dfl_…"+secret[len(secret)-4:] || strings.Contains(tok.Hint, secret[4:12]) {
			t.Errorf("hint %q of %q: want the prefix and the last four characters only", tok.Hint, secret)
		}
		if tok.Name != "laptop" || tok.UserID != alice || tok.ExpiresAt == nil || tok.ExpiresAt.Sub(tok.CreatedAt) != time.Hour || tok.LastUsedAt != nil {
			t.Errorf("token %+v: want laptop of alice, expiring an hour after its creation, never used", tok)
		}

		a, err := db.Authenticate(ctx, secret)
		if err != nil || a.UserID != alice || a.TokenID != tok.ID || a.ExpiresAt == nil || !a.ExpiresAt.Equal(*tok.ExpiresAt) {
			t.Fatalf("Authenticate = %+v, %v; want alice's token %v", a, err, tok.ID)
		}
		for _, bad := range []string{"", "dft_nope", "dfl_nope", secret + "x", secret[:len(secret)-1],
			"dfx_" + secret[4:], strings.ToUpper(secret[:4]) + secret[4:], "dfl_" + strings.Repeat("a", 300)} {
			if _, err := db.Authenticate(ctx, bad); code(err) != domainflow.EUNAUTHORIZED {
				t.Errorf("Authenticate(%.60q) error = %v; want unauthorized", bad, err)
			}
		}

		// CreateToken, as scripts and tests have called it: a token lasting
		// until revoked.
		plain, err := db.CreateToken(ctx, alice)
		if err != nil || !tokenShape.MatchString(plain) {
			t.Fatalf("CreateToken = %q, %v", plain, err)
		}
		if a, err := db.Authenticate(ctx, plain); err != nil || a.UserID != alice || a.ExpiresAt != nil {
			t.Errorf("Authenticate(CreateToken's) = %+v, %v; want alice's, without expiry", a, err)
		}
	})
}

// A token made before tokens had a prefix of their own (dft_, a SHA-256
// stored, nothing else) keeps working, and is listed with the hint dft_….
func TestLegacyTokensKeepWorking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		legacy := "dft_" + strings.Repeat("Ab-_", 10) + "xyz"
		id := uuid.New()
		err := db.Gorm().Exec("INSERT INTO api_tokens (id, user_id, token_hash, created_at) VALUES (?, ?, ?, ?)",
			id, alice, sha256Hex(legacy), time.Now().UTC()).Error
		if err != nil {
			t.Fatal(err)
		}
		a, err := db.Authenticate(ctx, legacy)
		if err != nil || a.UserID != alice || a.TokenID != id || a.ExpiresAt != nil {
			t.Fatalf("Authenticate(legacy) = %+v, %v", a, err)
		}
		list, err := db.ListTokens(ctx, alice)
		if err != nil || len(list) != 1 || list[0].Hint != "dft_…" || list[0].Name != "" || list[0].LastUsedAt == nil {
			t.Fatalf("ListTokens = %+v, %v; want the legacy token, hint dft_…, no name, just used", list, err)
		}
		if err := db.RevokeToken(ctx, alice, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Authenticate(ctx, legacy); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("revoked legacy token: %v; want unauthorized", err)
		}
	})
}

func TestIssueTokenChecksNameAndLifetime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		for _, tt := range []struct {
			name     string
			lifetime time.Duration
			field    string // "" for valid
		}{
			{"ok", 0, ""},
			{"ok", domainflow.MinTokenLifetime, ""},
			{"ok", domainflow.MaxTokenLifetime, ""},
			{strings.Repeat("é", 200), 0, ""},
			{"", 0, "/name"},
			{"  \t", 0, "/name"},
			{strings.Repeat("x", 201), 0, "/name"},
			{"ok", domainflow.MinTokenLifetime - time.Second, "/expires_in"},
			{"ok", -time.Hour, "/expires_in"},
			{"ok", domainflow.MaxTokenLifetime + time.Second, "/expires_in"},
		} {
			_, _, err := db.IssueToken(ctx, domainflow.NewToken{UserID: alice, Name: tt.name, Lifetime: tt.lifetime})
			if tt.field == "" {
				if err != nil {
					t.Errorf("%.20q for %v: %v", tt.name, tt.lifetime, err)
				}
				continue
			}
			e, ok := err.(*domainflow.Error)
			if !ok || e.Code != domainflow.EINVALID || len(e.Fields) != 1 || e.Fields[0].Pointer != tt.field {
				t.Errorf("%.20q for %v: error %#v; want invalid naming %s", tt.name, tt.lifetime, err, tt.field)
			}
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		tok, secret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "short", Lifetime: domainflow.MinTokenLifetime})
		if _, err := db.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// A minute is the shortest lifetime: let it pass by moving the
		// expiry instead of waiting.
		if err := db.Gorm().Exec("UPDATE api_tokens SET expires_at = ? WHERE id = ?", time.Now().UTC().Add(-time.Millisecond), tok.ID).Error; err != nil {
			t.Fatal(err)
		}
		_, err := db.Authenticate(ctx, secret)
		if code(err) != domainflow.EUNAUTHORIZED || !strings.Contains(domainflow.ErrorMessage(err), "expired") {
			t.Errorf("expired token: %v; want unauthorized, saying it expired", err)
		}
		// Still listed (with its expiry) until revoked.
		list, _ := db.ListTokens(ctx, alice)
		if len(list) != 1 || list[0].ExpiresAt == nil || list[0].ExpiresAt.After(time.Now()) {
			t.Errorf("ListTokens = %+v; want the expired token", list)
		}
	})
}

func TestRevokeToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		keep, keepSecret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "keep"})
		gone, goneSecret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "gone"})
		before := revocations(t, db)

		for _, tt := range []struct {
			user, id uuid.UUID
			what     string
		}{{bob, gone.ID, "bob revoking alice's token"}, {alice, uuid.New(), "a token that does not exist"}} {
			if err := db.RevokeToken(ctx, tt.user, tt.id); code(err) != domainflow.ENOTFOUND {
				t.Errorf("%s: %v; want not found", tt.what, err)
			}
		}
		if _, err := db.Authenticate(ctx, goneSecret); err != nil {
			t.Fatalf("bob's attempt revoked alice's token: %v", err)
		}
		if n := revocations(t, db); n != before {
			t.Errorf("revocations %d after failed revocations; want %d", n, before)
		}

		if err := db.RevokeToken(ctx, alice, gone.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Authenticate(ctx, goneSecret); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("revoked token: %v; want unauthorized", err)
		}
		if _, err := db.Authenticate(ctx, keepSecret); err != nil {
			t.Errorf("the other token: %v", err)
		}
		if n := revocations(t, db); n != before+1 {
			t.Errorf("revocations %d after one; want %d", n, before+1)
		}
		if err := db.RevokeToken(ctx, alice, gone.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("revoking twice: %v; want not found", err)
		}
		list, err := db.ListTokens(ctx, alice)
		if err != nil || len(list) != 1 || list[0].ID != keep.ID {
			t.Errorf("ListTokens after revoking = %+v, %v; want only %v", list, err, keep.ID)
		}
	})
}

func revocations(t *testing.T, db *store.DB) int64 {
	t.Helper()
	n, err := db.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestListTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		var want []uuid.UUID
		for _, name := range []string{"one", "two", "three"} {
			tok, _ := issue(t, db, domainflow.NewToken{UserID: alice, Name: name, Lifetime: 24 * time.Hour})
			want = append(want, tok.ID)
		}
		issue(t, db, domainflow.NewToken{UserID: bob, Name: "bob's"})
		list, err := db.ListTokens(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		var got []uuid.UUID
		for _, tok := range list {
			got = append(got, tok.ID)
			if tok.UserID != alice || tok.ExpiresAt == nil || tok.Hint == "" {
				t.Errorf("listed %+v", tok)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("alice's tokens %v; want %v, oldest first", got, want)
		}
		if none, err := db.ListTokens(ctx, uuid.New()); err != nil || len(none) != 0 {
			t.Errorf("ListTokens of nobody = %v, %v", none, err)
		}
	})
}

// A token's use is written when the last one written is a minute old or
// more: not at every request.
func TestTokenLastUsed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		tok, secret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "n"})
		lastUsed := func() *time.Time {
			list, err := db.ListTokens(ctx, alice)
			if err != nil || len(list) != 1 {
				t.Fatalf("ListTokens = %v, %v", list, err)
			}
			return list[0].LastUsedAt
		}
		if lastUsed() != nil {
			t.Fatalf("a new token has a last use")
		}
		start := time.Now()
		if _, err := db.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		first := lastUsed()
		if first == nil || first.Before(start.Add(-time.Second)) || first.After(time.Now().Add(time.Second)) {
			t.Fatalf("last use %v after a use at %v", first, start)
		}
		for range 3 {
			if _, err := db.Authenticate(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		if again := lastUsed(); again == nil || !again.Equal(*first) {
			t.Errorf("last use %v after uses within a minute; want it unchanged at %v", again, first)
		}
		old := time.Now().UTC().Add(-domainflow.TokenUseInterval - time.Second)
		if err := db.Gorm().Exec("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", old, tok.ID).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := db.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if now := lastUsed(); now == nil || !now.After(old.Add(time.Minute)) {
			t.Errorf("last use %v after a use when the last was %v; want it written again", now, old)
		}
	})
}

func TestTickets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		_, aliceSecret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "a"})
		_, bobSecret := issue(t, db, domainflow.NewToken{UserID: bob, Name: "b"})
		access := func(secret string) domainflow.Access {
			a, err := db.Authenticate(ctx, secret)
			if err != nil {
				t.Fatal(err)
			}
			return *a
		}
		ticket := func(a domainflow.Access) (string, time.Time) {
			tk, exp, err := db.CreateTicket(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			return tk, exp
		}

		start := time.Now()
		tk, exp := ticket(access(aliceSecret))
		if exp.Before(start.Add(domainflow.TicketLifetime-time.Second)) || exp.After(time.Now().Add(domainflow.TicketLifetime)) {
			t.Errorf("ticket expires %v; want 30 s after %v", exp, start)
		}
		if strings.HasPrefix(tk, "dfl_") || len(tk) < 40 {
			t.Errorf("ticket %q: want 43 random characters, not a token", tk)
		}
		if _, err := db.Authenticate(ctx, tk); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("a ticket used as a token: %v; want unauthorized", err)
		}
		if a, err := db.RedeemTicket(ctx, tk); err != nil || a.UserID != alice || a.TokenID != access(aliceSecret).TokenID {
			t.Fatalf("RedeemTicket = %+v, %v; want alice's token", a, err)
		}
		if _, err := db.RedeemTicket(ctx, tk); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("a ticket redeemed twice: %v; want unauthorized", err)
		}
		for _, bad := range []string{"", aliceSecret, tk + "x", strings.Repeat("a", 300)} {
			if _, err := db.RedeemTicket(ctx, bad); code(err) != domainflow.EUNAUTHORIZED {
				t.Errorf("RedeemTicket(%.50q): %v; want unauthorized", bad, err)
			}
		}

		// Each ticket acts for its own maker.
		bt, _ := ticket(access(bobSecret))
		if a, err := db.RedeemTicket(ctx, bt); err != nil || a.UserID != bob {
			t.Errorf("bob's ticket: %+v, %v; want bob", a, err)
		}

		// Expired: refused, and deleted by the next ticket's creation.
		old, _ := ticket(access(aliceSecret))
		if err := db.Gorm().Exec("UPDATE ws_tickets SET expires_at = ?", time.Now().UTC().Add(-time.Millisecond)).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := db.RedeemTicket(ctx, old); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("an expired ticket: %v; want unauthorized", err)
		}
		stale, _ := ticket(access(aliceSecret))
		if err := db.Gorm().Exec("UPDATE ws_tickets SET expires_at = ?", time.Now().UTC().Add(-time.Millisecond)).Error; err != nil {
			t.Fatal(err)
		}
		ticket(access(aliceSecret))
		if n := countTickets(t, db); n != 1 {
			t.Errorf("%d tickets stored after one was made with %q expired; want 1", n, stale)
		}

		// A revoked token's tickets go with it; it can make no more.
		tok, secret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "revoked"})
		a := access(secret)
		pending, _ := ticket(a)
		if err := db.RevokeToken(ctx, alice, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RedeemTicket(ctx, pending); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("the ticket of a revoked token: %v; want unauthorized", err)
		}
		if _, _, err := db.CreateTicket(ctx, a); code(err) != domainflow.EUNAUTHORIZED {
			t.Errorf("a ticket from a revoked token: %v; want unauthorized", err)
		}

		// A ticket lives no longer than its token.
		short, shortSecret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "short", Lifetime: time.Minute})
		soon := time.Now().UTC().Add(10 * time.Second).Truncate(time.Microsecond)
		if err := db.Gorm().Exec("UPDATE api_tokens SET expires_at = ? WHERE id = ?", soon, short.ID).Error; err != nil {
			t.Fatal(err)
		}
		if _, exp := ticket(access(shortSecret)); !exp.Equal(soon) {
			t.Errorf("ticket of a token expiring at %v expires %v", soon, exp)
		}
	})
}

// Handshakes racing with one ticket: exactly one gets in.
func TestTicketIsRedeemedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		_, secret := issue(t, db, domainflow.NewToken{UserID: alice, Name: "a"})
		a, err := db.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		tk, _, err := db.CreateTicket(ctx, *a)
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			ok     int
			others []error
		)
		for range 8 {
			wg.Go(func() {
				_, err := db.RedeemTicket(ctx, tk)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if code(err) != domainflow.EUNAUTHORIZED {
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || len(others) > 0 {
			t.Errorf("%d of 8 redeemed the ticket (other errors: %v); want exactly 1", ok, others)
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func countTickets(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Raw("SELECT count(*) FROM ws_tickets").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserByName(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		if u, err := db.UserByName(ctx, "alice"); err != nil || u.ID != alice {
			t.Errorf("UserByName(alice) = %+v, %v", u, err)
		}
		if _, err := db.UserByName(ctx, "nobody"); code(err) != domainflow.ENOTFOUND {
			t.Errorf("UserByName(nobody): %v; want not found", err)
		}
	})
}
