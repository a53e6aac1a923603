package store_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// openAt opens and migrates the database at url, sealing under key (none
// for nil).
func openAt(t *testing.T, url string, key *seal.Key) (*store.DB, error) {
	t.Helper()
	db, err := store.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		_, err = db.UseSealer(ctx, key)
	}
	return db, err
}

// time0 is a time long ago.
var time0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func newKey(t *testing.T) *seal.Key {
	t.Helper()
	k, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// storedPasswords returns every proxy's password column as stored.
func storedPasswords(t *testing.T, db *store.DB) map[uuid.UUID]string {
	t.Helper()
	rows, err := db.SQL().QueryContext(ctx, "SELECT id, password FROM proxies")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id, pw string
		if err := rows.Scan(&id, &pw); err != nil {
			t.Fatal(err)
		}
		out[uuid.MustParse(id)] = pw
	}
	return out
}

// A proxy's password is stored sealed under the key and read back opened;
// a proxy without one stores nothing to seal.
func TestPasswordsAreSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		const secret = "hunter2-7c1e"
		p := &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128, Username: "u", Password: secret, Enabled: true}
		bare := &domainflow.Proxy{UserID: alice, Name: "bare", Protocol: "http", Host: "127.0.0.1", Port: 3129, Enabled: true}
		for _, x := range []*domainflow.Proxy{p, bare} {
			if err := db.CreateProxy(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		stored := storedPasswords(t, db)
		if id, _, ok := seal.Split(stored[p.ID]); !ok || id != storetest.Key.ID() || strings.Contains(stored[p.ID], secret) {
			t.Errorf("stored password %q; want a value sealed under key %s", stored[p.ID], storetest.Key.ID())
		}
		if stored[bare.ID] != "" {
			t.Errorf("stored password of a proxy without one: %q", stored[bare.ID])
		}
		for _, read := range []func() (*domainflow.Proxy, error){
			func() (*domainflow.Proxy, error) { return db.GetProxy(ctx, alice, p.ID) },
			func() (*domainflow.Proxy, error) { l, err := db.ListProxies(ctx, alice); return proxyIn(l, p.ID), err },
			func() (*domainflow.Proxy, error) { l, err := db.EnabledProxies(ctx); return proxyIn(l, p.ID), err },
		} {
			if got, err := read(); err != nil || got == nil || got.Password != secret {
				t.Errorf("read back: %+v, %v; want the password opened", got, err)
			}
		}
	})
}

// proxyIn returns the proxy of the list with the id, nil if none.
func proxyIn(list []*domainflow.Proxy, id uuid.UUID) *domainflow.Proxy {
	for _, p := range list {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// A database whose passwords were written in plain text (before sealing
// existed) has them sealed by the first key it is opened with; another key
// is then refused, and a store without a key can neither read nor write a
// password.
func TestFirstKeySealsPlainText(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			url := storetest.URL(t, dialect)
			plain, err := openAt(t, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			alice := newUser(t, plain, "alice")
			id := uuid.New()
			if err := plain.Gorm().Exec(`INSERT INTO proxies (id, user_id, name, protocol, host, port, username, password, created_at, updated_at)
				VALUES (?, ?, 'old', 'http', '127.0.0.1', 3128, 'u', 'plain-pw', ?, ?)`, id, alice, time0, time0).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := plain.GetProxy(ctx, alice, id); !errors.Is(err, store.ErrNoSecretKey) {
				t.Errorf("GetProxy without a key: %v; want ErrNoSecretKey", err)
			}
			if err := plain.CreateProxy(ctx, &domainflow.Proxy{UserID: alice, Name: "n", Protocol: "http", Host: "h", Port: 1, Password: "x"}); !errors.Is(err, store.ErrNoSecretKey) {
				t.Errorf("CreateProxy with a password without a key: %v; want ErrNoSecretKey", err)
			}
			if has, err := plain.HasSealedSecrets(ctx); has || err != nil {
				t.Errorf("HasSealedSecrets before any key = %v, %v", has, err)
			}

			key := newKey(t)
			db, err := openAt(t, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := db.UseSealer(ctx, key)
			if err != nil || n != 1 {
				t.Fatalf("UseSealer = %d, %v; want 1 password sealed", n, err)
			}
			if kid, _, ok := seal.Split(storedPasswords(t, db)[id]); !ok || kid != key.ID() {
				t.Errorf("after the first key the password is stored as %q", storedPasswords(t, db)[id])
			}
			if got, err := db.GetProxy(ctx, alice, id); err != nil || got.Password != "plain-pw" {
				t.Errorf("GetProxy = %+v, %v", got, err)
			}
			if has, err := db.HasSealedSecrets(ctx); !has || err != nil {
				t.Errorf("HasSealedSecrets after the first key = %v, %v", has, err)
			}
			// Opened again with the same key: nothing more to seal.
			if _, err := openAt(t, url, key); err != nil {
				t.Errorf("the same key again: %v", err)
			}
			if _, err := openAt(t, url, newKey(t)); !errors.Is(err, store.ErrWrongSecretKey) || !errors.Is(err, seal.ErrWrongKey) {
				t.Errorf("another key: %v; want ErrWrongSecretKey", err)
			}
		})
	}
}

// Rotation re-seals every password under the new key in one go; the old
// key opens nothing afterwards.
func TestRotateSecrets(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			url := storetest.URL(t, dialect)
			oldKey, newK := newKey(t), newKey(t)
			db, err := openAt(t, url, oldKey)
			if err != nil {
				t.Fatal(err)
			}
			alice := newUser(t, db, "alice")
			want := map[uuid.UUID]string{}
			for i, pw := range []string{"one-pw", "two-pw", ""} {
				p := &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128 + i, Password: pw}
				if err := db.CreateProxy(ctx, p); err != nil {
					t.Fatal(err)
				}
				want[p.ID] = pw
			}
			n, err := db.RotateSecrets(ctx, newK)
			if err != nil || n != 2 {
				t.Fatalf("RotateSecrets = %d, %v; want 2", n, err)
			}
			for id, v := range storedPasswords(t, db) {
				if kid, _, ok := seal.Split(v); want[id] != "" && (!ok || kid != newK.ID()) {
					t.Errorf("after rotation proxy %s stores %q; want sealed under %s", id, v, newK.ID())
				}
				if _, err := oldKey.Open(v); want[id] != "" && err == nil {
					t.Errorf("the old key still opens the password of %s", id)
				}
			}
			// The handle goes on with the new key.
			for id, pw := range want {
				if got, err := db.GetProxy(ctx, alice, id); err != nil || got.Password != pw {
					t.Errorf("GetProxy after rotation = %+v, %v; want %q", got, err, pw)
				}
			}
			if _, err := openAt(t, url, oldKey); !errors.Is(err, store.ErrWrongSecretKey) {
				t.Errorf("the old key after rotation: %v; want ErrWrongSecretKey", err)
			}
			again, err := openAt(t, url, newK)
			if err != nil {
				t.Fatalf("the new key after rotation: %v", err)
			}
			for id, pw := range want {
				if got, err := again.GetProxy(ctx, alice, id); err != nil || got.Password != pw {
					t.Errorf("GetProxy with the new key = %+v, %v; want %q", got, err, pw)
				}
			}
		})
	}
}
