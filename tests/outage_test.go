package tests

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store"
)

// pgCluster is a PostgreSQL server of a test's own, which it can stop and
// start again: the shared one cannot be taken down under other tests.
type pgCluster struct {
	bin  string // the directory of initdb, pg_ctl and postgres
	data string
	log  string
	port int
	cred *syscall.Credential // the user to run as, when the test runs as root
}

// newPGCluster makes a cluster in a temporary directory and starts it on a
// free loopback port; it is stopped when the test ends. The test is skipped
// when PostgreSQL's server programs are not installed.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		// Debian and Ubuntu keep them off PATH.
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(found) == 0 {
			t.Skip("initdb is not installed (neither on PATH nor in /usr/lib/postgresql/*/bin): this test needs a PostgreSQL server of its own")
		}
		initdb = found[len(found)-1]
	}
	initdb, _ = filepath.EvalSymlinks(initdb) // pg_ctl and postgres sit beside the real one
	c := &pgCluster{bin: filepath.Dir(initdb)}

	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root, and there is no postgres user to run initdb as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil { // the test's own temp dir
			t.Fatal(err)
		}
	}
	c.data, c.log = filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	c.run(t, "initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	t.Cleanup(func() {
		// Already stopped by the test, or not: either way it must not outlive it.
		cmd := c.command(context.Background(), "pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
		cmd.Run()
		if t.Failed() {
			if b, err := os.ReadFile(c.log); err == nil {
				t.Logf("PostgreSQL log:\n%s", b)
			}
		}
	})
	c.start(t)
	return c
}

// URL is the database URL of the cluster's postgres database.
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the server and returns once it accepts connections.
func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	// No Unix socket (nothing here needs one) and no fsync: the data is
	// thrown away with the test.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c shared_buffers=16MB", c.port)
	c.run(t, "pg_ctl", "-D", c.data, "-l", c.log, "-o", opts, "-w", "-t", "60", "start")
}

// stop stops the server as a crash would (immediate mode: no checkpoint, the
// connections cut) and returns once it is gone.
func (c *pgCluster) stop(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.data, "-m", "immediate", "-w", "-t", "60", "stop")
}

func (c *pgCluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if out, err := c.command(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// retryAfterOf reads the Retry-After the generated client parsed from a 503
// (it does so only because the spec declares the header).
func retryAfterOf[H ~struct{ RetryAfter *int }](h *H) *int {
	if h == nil {
		return nil
	}
	return struct{ RetryAfter *int }(*h).RetryAfter
}

// typedAnswer is a response as the generated client decoded it: for a 503,
// the problem and Retry-After it found.
type typedAnswer struct {
	response
	problem    *api.Problem
	retryAfter *int
}

// While PostgreSQL is down, every API route says so — 503, code unavailable,
// Retry-After — instead of 500 "Internal error", and a token that has to be
// looked up is not refused as if it were wrong; when PostgreSQL is back, so is
// the service, without a restart.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	pg := newPGCluster(t)
	ctx := testCtx(t)
	s := newServerOn(t, store.Postgres, pg.URL(), nil)
	alice := s.newUser(t, "alice")
	bob := s.newUser(t, "bob") // his token is never used before the outage: not in the server's cache
	c := alice.createCampaign(ctx, t, "before the outage", testGeneration())
	r, err := alice.api().ListCampaignsWithResponse(ctx, nil)
	mustStatus(t, "list campaigns before the outage", r, err, 200)

	calls := []struct {
		name string
		ok   int
		do   func(ctx context.Context) (typedAnswer, error)
	}{
		{"GET /api/v1/campaigns", 200, func(ctx context.Context) (typedAnswer, error) {
			r, err := alice.api().ListCampaignsWithResponse(ctx, nil)
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
		{"GET /api/v1/campaigns/{id}", 200, func(ctx context.Context) (typedAnswer, error) {
			r, err := alice.api().GetCampaignWithResponse(ctx, c.Id, nil)
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
		{"GET /api/v1/campaigns/{id}/domains", 200, func(ctx context.Context) (typedAnswer, error) {
			r, err := alice.api().ListDomainsWithResponse(ctx, c.Id, &api.ListDomainsParams{Limit: ptr(10)})
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
		{"POST /api/v1/campaigns", 201, func(ctx context.Context) (typedAnswer, error) {
			r, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "during the outage", Generation: testGeneration()})
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
		{"GET /api/v1/proxies with a token not seen yet", 200, func(ctx context.Context) (typedAnswer, error) {
			r, err := bob.api().ListProxiesWithResponse(ctx)
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
		{"GET /readyz", 200, func(ctx context.Context) (typedAnswer, error) {
			r, err := newClient(s.BaseURL, "").GetReadyWithResponse(ctx)
			if err != nil {
				return typedAnswer{}, err
			}
			return typedAnswer{r, r.ApplicationproblemJSON503, retryAfterOf(r.Headers503)}, nil
		}},
	}

	pg.stop(t)
	for _, call := range calls {
		a, err := call.do(ctx)
		p := checkProblem(t, call.name+" with the database down", a, err, 503, "unavailable")
		if p == nil {
			continue
		}
		if !strings.Contains(deref(p.Detail), "database") {
			t.Errorf("%s: detail %q does not say the database is the trouble", call.name, deref(p.Detail))
		}
		if a.problem == nil {
			t.Errorf("%s: the generated client decoded no 503 problem: the spec does not declare it", call.name)
		}
		if ra := a.retryAfter; ra == nil || *ra < 1 || *ra > 60 {
			t.Errorf("%s: Retry-After %v, want a few seconds (as the generated client reads it)", call.name, ra)
		}
	}
	// The WebSocket's handshake looks bob's token up too.
	_, resp, err := websocket.Dial(ctx, wsURL(s, ""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + bob.Token}}})
	if err == nil || resp == nil || resp.StatusCode != 503 || mediaType(resp.Header.Get("Content-Type")) != "application/problem+json" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("WebSocket handshake with the database down: %v, %+v; want a 503 problem with Retry-After", err, resp)
	}

	pg.start(t)
	back := time.Now()
	for {
		a, err := calls[0].do(ctx)
		if err == nil && a.StatusCode() == 200 {
			break
		}
		if time.Since(back) > 30*time.Second {
			t.Fatalf("%s: no 200 within 30 s of the database's return (last: %v %v)", calls[0].name, a.response, err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("first 200 %v after the database was back", time.Since(back).Round(time.Millisecond))
	for _, call := range calls {
		a, err := call.do(ctx)
		checkStatus(t, call.name+" with the database back", a, err, call.ok)
	}
	ws, _, err := websocket.Dial(ctx, wsURL(s, ""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + bob.Token}}})
	if err != nil {
		t.Errorf("WebSocket handshake with the database back: %v", err)
	} else {
		ws.CloseNow()
	}
}
