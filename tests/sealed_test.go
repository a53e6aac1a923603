package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
)

// runCLI runs a domainflow command with the extra environment given, and
// returns its stdout, its stderr and how it ended.
func (s *testServer) runCLI(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("domainflow %s did not end within %v", strings.Join(args, " "), cmdTimeout)
	}
	return stdout.String(), stderr.String(), err
}

// serveMustFail runs "domainflow serve" on the server's database with the
// extra environment and checks that it exits non-zero, saying want.
func (s *testServer) serveMustFail(t *testing.T, what, want string, env ...string) {
	t.Helper()
	_, stderr, err := s.runCLI(t, env, "serve", "--addr", "127.0.0.1:0", "--database-url", s.DBURL)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("%s: serve ended with %v; want a non-zero exit\n%s", what, err, stderr)
		return
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("%s: serve said %q; want it to say %q", what, stderr, want)
	}
}

// sealedPasswords returns every proxy password as the database stores it.
func sealedPasswords(ctx context.Context, t *testing.T, s *testServer) map[string]string {
	t.Helper()
	rows, err := s.DB(t).SQL().QueryContext(ctx, "SELECT id, password FROM proxies")
	if err != nil {
		t.Fatalf("read proxies: %v", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, pw string
		if err := rows.Scan(&id, &pw); err != nil {
			t.Fatal(err)
		}
		out[id] = pw
	}
	return out
}

// checkNowhere checks that secret appears nowhere in the server's
// database: in no byte of a SQLite file (and its write-ahead log), in no
// row of any table on PostgreSQL.
func checkNowhere(ctx context.Context, t *testing.T, s *testServer, secret string) {
	t.Helper()
	if s.Dialect == store.SQLite {
		path, _ := store.SQLiteFile(s.DBURL)
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the password is in %s in plain text", f)
			}
		}
		return
	}
	var tables []string
	if err := s.DB(t).Gorm().WithContext(ctx).Raw(
		"SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'").
		Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("found only the tables %v", tables)
	}
	for _, table := range tables {
		var n int64
		if err := s.DB(t).Gorm().WithContext(ctx).Raw(fmt.Sprintf(`SELECT count(*) FROM %q AS r WHERE strpos(r::text, ?) > 0`, table), secret).
			Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("the password is in %d rows of %s in plain text", n, table)
		}
	}
}

// proxiedCampaign runs a campaign whose every name is fetched through the
// proxy, and checks that each was: a sealed password opened right.
func proxiedCampaign(ctx context.Context, t *testing.T, u *apiUser, name string, proxyID uuid.UUID, proxy *forwardProxy, web *testWeb) {
	t.Helper()
	gen := prefixGen(name, "ab", 1, []string{".test"}, 10)
	names := namesOf(t, gen)
	answer := map[string]dnsAction{}
	for _, n := range names {
		answer[n] = dnsAnswer
	}
	dnsSrv := startDNS(t, 0, ruleOf(answer)) // these names alone: no wildcard
	before := proxy.connects.Load()
	c, err := u.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: name, Generation: gen, AutoStart: ptr(true),
		Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(1000), Retries: ptr(0)},
		Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(3000), ProxyIds: &[]uuid.UUID{proxyID}}})
	mustStatus(t, "create a campaign through the proxy", c, err, 201)
	sum := u.waitFor(ctx, t, c.JSON201.Id, 60*time.Second, "completion", completed)
	if sum.Http.Validated != int64(len(names)) {
		t.Errorf("%s: %d names fetched; want all %d, through the proxy: %s", name, sum.Http.Validated, len(names), mustJSON(sum))
	}
	if n := proxy.connects.Load() - before; n < int64(len(names)) {
		t.Errorf("%s: the proxy opened %d tunnels; want one per name (%d)", name, n, len(names))
	}
	for _, n := range names {
		if web.Hits(n) < 1 {
			t.Errorf("%s: the web server got no request for %s", name, n)
		}
	}
}

// TestSealedCredentials: a proxy's password is stored sealed — its bytes
// are nowhere in the database — and still opens to dial the proxy; a
// server with the wrong key refuses to start; a rotation re-seals under a
// new key, after which the old key opens nothing and the new one works.
func TestSealedCredentials(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		secret := make([]byte, 12)
		rand.Read(secret)
		pass := "pw-" + hex.EncodeToString(secret)
		proxy := startForwardProxy(t, "crawler", pass)
		web := startWeb(t, htmlPage(200, "Shop", "widgets for sale"))

		cr, err := alice.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "sealed", Protocol: api.ProxyProtocolHttp,
			Host: "127.0.0.1", Port: proxy.Addr.Port, Username: ptr("crawler"), Password: ptr(pass)})
		mustStatus(t, "create proxy", cr, err, 201)
		proxyID := cr.JSON201.Id
		if strings.Contains(string(cr.Body), pass) || !cr.JSON201.HasCredentials {
			t.Errorf("create proxy answered %s", cr.Body)
		}

		oldText := testSecretKey
		if s.Dialect == store.SQLite {
			// No key was given: one was made beside the database file,
			// for the service's user alone.
			path, _ := store.SQLiteFile(s.DBURL)
			fi, err := os.Stat(path + ".key")
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("the key file beside the database: %v, %v; want mode 0600", fi, err)
			}
			b, err := os.ReadFile(path + ".key")
			if err != nil {
				t.Fatal(err)
			}
			oldText = string(b)
		}
		oldKey, err := seal.ParseKey(oldText)
		if err != nil {
			t.Fatal(err)
		}
		stored := sealedPasswords(ctx, t, s)[proxyID.String()]
		if id, _, ok := seal.Split(stored); !ok || id != oldKey.ID() {
			t.Errorf("the password is stored as %q; want it sealed under key %s", stored, oldKey.ID())
		}
		checkNowhere(ctx, t, s, pass)
		proxiedCampaign(ctx, t, alice, "before", proxyID, proxy, web)
		checkNowhere(ctx, t, s, pass)

		// The wrong key: the server refuses to start, and says why.
		s.stop(t)
		_, wrong, _ := seal.Generate()
		s.serveMustFail(t, "a wrong key", "the secret key does not open this database's secrets", "DOMAINFLOW_SECRET_KEY="+wrong)

		// Rotation, with the key in use (PostgreSQL: given; SQLite: the
		// file beside the database) and a new one from a file.
		var keyEnv []string
		if s.Dialect == store.Postgres {
			keyEnv = []string{"DOMAINFLOW_SECRET_KEY=" + testSecretKey}
		}
		newPath := filepath.Join(t.TempDir(), "new.key")
		if out, errOut, err := s.runCLI(t, nil, "secrets", "new-key", newPath); err != nil {
			t.Fatalf("secrets new-key: %v\n%s%s", err, out, errOut)
		}
		newKey, err := seal.ReadKeyFile(newPath)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, err := s.runCLI(t, keyEnv, "secrets", "rotate", "--new-key-file", newPath, "--database-url", s.DBURL)
		if err != nil || !strings.Contains(out, "Re-sealed 1 secrets under key "+newKey.ID()) {
			t.Fatalf("secrets rotate: %v\n%s%s", err, out, errOut)
		}
		for id, v := range sealedPasswords(ctx, t, s) {
			if v == "" {
				continue
			}
			if kid, _, ok := seal.Split(v); !ok || kid != newKey.ID() {
				t.Errorf("after rotation proxy %s stores %q; want it sealed under %s", id, v, newKey.ID())
			}
			if _, err := oldKey.Open(v); err == nil {
				t.Errorf("after rotation the old key still opens the password of proxy %s", id)
			}
			if got, err := newKey.Open(v); err != nil || got != pass {
				t.Errorf("the new key opens proxy %s's password as %q, %v", id, got, err)
			}
		}
		checkNowhere(ctx, t, s, pass)
		if s.Dialect == store.SQLite {
			path, _ := store.SQLiteFile(s.DBURL)
			if k, err := seal.ReadKeyFile(path + ".key"); err != nil || k.ID() != newKey.ID() {
				t.Errorf("after rotation the key file beside the database holds %v, %v; want key %s", k, err, newKey.ID())
			}
		}
		s.serveMustFail(t, "the old key after rotation", "the secret key does not open this database's secrets",
			"DOMAINFLOW_SECRET_KEY="+strings.TrimSpace(oldText))

		// The new key works: the server starts and dials through the proxy.
		if s.Dialect == store.Postgres {
			s.Env = []string{"DOMAINFLOW_SECRET_KEY_FILE=" + newPath}
		}
		s.launch(t)
		proxiedCampaign(ctx, t, alice, "after", proxyID, proxy, web)
	})
}
