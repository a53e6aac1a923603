package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/gen/client"
	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// Time bounds. Generous: the machine is small and tests run two at a time.
const (
	testTimeout  = 3 * time.Minute  // a whole test (one dialect)
	startTimeout = 60 * time.Second // from exec to /readyz answering 200
	stopTimeout  = 30 * time.Second // from SIGTERM to exit
	cmdTimeout   = 60 * time.Second // a "token create" run
)

// httpClient is shared by every client of every test; nothing waits longer
// than its timeout.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// servingLine is what "domainflow serve" prints on stdout once it listens.
var servingLine = regexp.MustCompile(`DomainFlow is serving on (http://127\.0\.0\.1:\d+)`)

// testCtx returns a context for one test, cancelled when the test ends.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eachDialect runs f as a parallel subtest per dialect (sqlite, postgres),
// each with its own server on its own fresh database.
func eachDialect(t *testing.T, f func(t *testing.T, s *testServer)) {
	t.Helper()
	eachDialectWith(t, func(t *testing.T, d string) *testServer { return startServer(t, d) }, f)
}

// eachDialectWith is eachDialect with the server that start starts.
func eachDialectWith(t *testing.T, start func(t *testing.T, dialect string) *testServer, f func(t *testing.T, s *testServer)) {
	t.Helper()
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, start(t, d))
		})
	}
}

// postgresServers bounds the servers on PostgreSQL that run at once. Each
// holds up to ten connections (its store, the job queue, the event bus, the
// test's own store), and the PostgreSQL server (max_connections is 100 by
// default) is shared with every other test binary running at the same time.
// DOMAINFLOW_TEST_POSTGRES_SERVERS overrides the bound.
var postgresServers = newTurns(envInt("DOMAINFLOW_TEST_POSTGRES_SERVERS", 6))

// turns is a counting semaphore with a queue for tests that go first.
type turns struct {
	mu    sync.Mutex
	cond  *sync.Cond
	free  int
	size  int
	first int                // callers of take(…, true) waiting
	held  map[*testing.T]int // taken ahead by a test for its servers
}

func newTurns(n int) *turns {
	tu := &turns{free: max(n, 1), size: max(n, 1), held: map[*testing.T]int{}}
	tu.cond = sync.NewCond(&tu.mu)
	return tu
}

// take takes n turns (at most all of them) until the test ends; its
// cleanups run after those registered later, so after the servers the turns
// are for have stopped. A caller that goes first is served before every
// other caller waiting.
func (tu *turns) take(t *testing.T, n int, first bool) {
	t.Helper()
	n = min(n, tu.size)
	tu.mu.Lock()
	defer tu.mu.Unlock()
	if first {
		tu.first++
		defer func() { tu.first--; tu.cond.Broadcast() }()
	}
	stop := context.AfterFunc(t.Context(), func() {
		tu.mu.Lock()
		defer tu.mu.Unlock()
		tu.cond.Broadcast()
	})
	defer stop()
	for tu.free < n || (!first && tu.first > 0) {
		if err := t.Context().Err(); err != nil {
			t.Fatalf("waiting for a turn to start a server on PostgreSQL: %v", err)
		}
		tu.cond.Wait()
	}
	tu.free -= n
	t.Cleanup(func() {
		tu.mu.Lock()
		defer tu.mu.Unlock()
		tu.free += n
		tu.cond.Broadcast()
	})
}

// takeFirst takes, ahead of the tests waiting, the turns of the n servers
// on dialect a test is about to start (none on SQLite). It is for the long
// tests whose length is mostly the engine's timers: started first, they do
// not hold the end of the run up.
func takeFirst(t *testing.T, dialect string, n int) {
	t.Helper()
	if dialect != store.Postgres {
		return
	}
	postgresServers.take(t, n, true)
	postgresServers.mu.Lock()
	postgresServers.held[t] += n
	postgresServers.mu.Unlock()
	t.Cleanup(func() {
		postgresServers.mu.Lock()
		delete(postgresServers.held, t)
		postgresServers.mu.Unlock()
	})
}

// forServer takes a turn for a server the test starts, unless it took it
// ahead with takeFirst.
func (tu *turns) forServer(t *testing.T) {
	t.Helper()
	tu.mu.Lock()
	if tu.held[t] > 0 {
		tu.held[t]--
		tu.mu.Unlock()
		return
	}
	tu.mu.Unlock()
	tu.take(t, 1, false)
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			panic(fmt.Sprintf("%s=%q: want a whole number of at least 1", name, v))
		}
		return n
	}
	return def
}

// syncBuffer collects a process's output; it is written by os/exec's copying
// goroutines and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stdoutWatcher copies a server's stdout into its log and reports the base
// URL of the first "serving on" line.
type stdoutWatcher struct {
	mu      sync.Mutex
	partial []byte
	log     io.Writer
	url     chan string
}

func (w *stdoutWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		fmt.Fprintf(w.log, "[stdout] %s\n", line)
		if m := servingLine.FindStringSubmatch(line); m != nil {
			select {
			case w.url <- m[1]:
			default:
			}
		}
	}
	return len(p), nil
}

// serverProc is one run of "domainflow serve".
type serverProc struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // what Wait returned; read after done
	stopped bool
}

// testServer is a domainflow server process on a database of its own. It
// can be stopped and started again on the same database.
type testServer struct {
	Dialect string
	DBURL   string
	BaseURL string
	// Flags are extra "domainflow serve" flags of every run (engine timings
	// such as --step-time).
	Flags []string
	// Env is extra environment of every run (NAME=value); without a
	// DOMAINFLOW_SECRET_KEY…, a server on PostgreSQL gets testSecretKey.
	Env []string

	logs *syncBuffer // stderr (and stdout) of every run
	proc *serverProc

	dbOnce sync.Once
	db     *store.DB
	dbErr  error
}

// testSecretKey is the key that seals secrets on PostgreSQL, new for
// each run of the tests.
var testSecretKey = func() string {
	_, text, err := seal.Generate()
	if err != nil {
		panic(err)
	}
	return text
}()

// schema is the database every test's server starts on: an empty database
// that the binary's own "domainflow migrate" brought up to date (the store's
// tables and the job queue's), made once per run and dialect and copied for
// each test.
var schema = storetest.NewTemplate("e2e", func(ctx context.Context, _, dbURL string) error {
	cmd := exec.CommandContext(ctx, binPath, "migrate", "--database-url", dbURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("domainflow migrate on an empty database: %v\n%s", err, out)
	}
	return nil
})

// startServer starts a server on a fresh database of the dialect (a copy of
// schema), with any extra serve flags, waits until it is ready, and stops it
// (checking that it exits 0) when the test ends. Its output is logged if the
// test fails.
func startServer(t *testing.T, dialect string, flags ...string) *testServer {
	t.Helper()
	return newServerOn(t, dialect, schema.URL(t, dialect), flags)
}

// startServerOnEmpty is startServer on an empty database, which the server
// migrates itself as it starts.
func startServerOnEmpty(t *testing.T, dialect string, flags ...string) *testServer {
	t.Helper()
	return newServerOn(t, dialect, storetest.URL(t, dialect), flags)
}

// peer starts another server process on the same database as s (a second
// instance behind the same load balancer), with the flags given.
func (s *testServer) peer(t *testing.T, flags ...string) *testServer {
	t.Helper()
	return newServerOn(t, s.Dialect, s.DBURL, flags)
}

func newServerOn(t *testing.T, dialect, dbURL string, flags []string) *testServer {
	t.Helper()
	if dialect == store.Postgres {
		postgresServers.forServer(t)
	}
	s := &testServer{Dialect: dialect, DBURL: dbURL, Flags: flags, logs: new(syncBuffer)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("domainflow serve (%s, %s) output:\n%s", dialect, strings.Join(flags, " "), s.logs.String())
		}
	})
	s.launch(t)
	return s
}

// launch starts a process on s.DBURL and waits for it to serve and be ready.
func (s *testServer) launch(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()

	fmt.Fprintf(s.logs, "--- starting domainflow serve (%s) ---\n", s.Dialect)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", s.DBURL}, s.Flags...)
	cmd := exec.Command(binPath, args...)
	// Rate limiting would make the paging tests flaky; "0 turns it off".
	// The tests' DNS, web and proxy servers are on loopback, which the
	// outbound guard refuses unless opened (the guard's own tests close it
	// again with --allowed-networks).
	cmd.Env = append(os.Environ(), "DOMAINFLOW_RATE_LIMIT=0", "DOMAINFLOW_LOG_LEVEL=info", "DOMAINFLOW_ALLOWED_NETWORKS=127.0.0.0/8,::1/128")
	cmd.Env = append(cmd.Env, s.Env...)
	if s.Dialect == store.Postgres && !slices.ContainsFunc(s.Env, func(e string) bool { return strings.HasPrefix(e, "DOMAINFLOW_SECRET_KEY") }) {
		// PostgreSQL needs a key; SQLite makes one beside the file.
		cmd.Env = append(cmd.Env, "DOMAINFLOW_SECRET_KEY="+testSecretKey)
	}
	watcher := &stdoutWatcher{log: s.logs, url: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = watcher, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start domainflow serve: %v", err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	t.Cleanup(func() { s.stopProc(t, p) })

	select {
	case u := <-watcher.url:
		s.BaseURL = u
	case <-p.done:
		t.Fatalf("domainflow serve exited before serving: %v", p.err)
	case <-ctx.Done():
		t.Fatalf("domainflow serve printed no %q line within %v", "serving on", startTimeout)
	}

	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/readyz", nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("domainflow serve exited before /readyz answered 200: %v", p.err)
		case <-ctx.Done():
			t.Fatalf("/readyz did not answer 200 within %v (last error %v)", startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop stops the running server with SIGTERM and checks it exits 0.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	if s.proc != nil {
		s.stopProc(t, s.proc)
	}
}

// restart stops the server and starts a new process on the same database.
// The base URL changes; clients made by apiUser.api follow it.
func (s *testServer) restart(t *testing.T) {
	t.Helper()
	s.stop(t)
	s.launch(t)
}

// kill ends the running server process with SIGKILL (no shutdown at all,
// as a crash or the OOM killer would) and waits for it to be gone.
func (s *testServer) kill(t *testing.T) {
	t.Helper()
	p := s.proc
	if p == nil || p.stopped {
		return
	}
	p.stopped = true
	fmt.Fprintf(s.logs, "--- SIGKILL domainflow serve (%s) ---\n", s.Dialect)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL domainflow serve: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("domainflow serve did not die within %v of SIGKILL", stopTimeout)
	}
}

// Logs returns what every run of the server printed so far.
func (s *testServer) Logs() string { return s.logs.String() }

func (s *testServer) stopProc(t *testing.T, p *serverProc) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("domainflow serve (%s) did not exit within %v of SIGTERM", s.Dialect, stopTimeout)
		return
	}
	if p.err != nil {
		t.Errorf("domainflow serve (%s) did not shut down cleanly on SIGTERM: %v (want exit status 0)", s.Dialect, p.err)
	}
}

// DB returns the store on the server's database, for seeding rows the way
// the engine writes them. It is closed when the test ends.
func (s *testServer) DB(t *testing.T) *store.DB {
	t.Helper()
	s.dbOnce.Do(func() {
		s.db, s.dbErr = store.Open(context.Background(), s.DBURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if s.dbErr == nil {
			db := s.db
			t.Cleanup(func() { db.Close() })
		}
	})
	if s.dbErr != nil {
		t.Fatalf("open the server's database: %v", s.dbErr)
	}
	return s.db
}

// apiUser is a user with an API token.
type apiUser struct {
	Name  string
	ID    uuid.UUID
	Token string
	srv   *testServer
}

// newUser creates a user and a token with "domainflow token create" (the
// token is the last line of its stdout) and looks the user's id up in the
// store.
func (s *testServer) newUser(t *testing.T, name string) *apiUser {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, "token", "create", "--user", name, "--database-url", s.DBURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("domainflow token create --user %s: %v\nstderr:\n%s", name, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	if token == "" || strings.ContainsAny(token, " \t") {
		t.Fatalf("domainflow token create printed no token as its last line:\n%s", stdout.String())
	}
	u, err := s.DB(t).EnsureUser(ctx, name)
	if err != nil {
		t.Fatalf("look up user %s: %v", name, err)
	}
	return &apiUser{Name: name, ID: u.ID, Token: token, srv: s}
}

// api returns a generated client for the server as it now runs, sending the
// user's token.
func (u *apiUser) api() *client.ClientWithResponses {
	return newClient(u.srv.BaseURL, "Bearer "+u.Token)
}

// newClient returns a generated client sending the Authorization header
// given ("" for none).
func newClient(baseURL, authorization string) *client.ClientWithResponses {
	opts := []client.ClientOption{client.WithHTTPClient(httpClient)}
	if authorization != "" {
		opts = append(opts, client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", authorization)
			return nil
		}))
	}
	c, err := client.NewClientWithResponses(baseURL, opts...)
	if err != nil {
		panic(err) // only a malformed base URL fails, and ours come from the server
	}
	return c
}

// rawResponse is an answer to a request the generated client cannot express.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r rawResponse) StatusCode() int     { return r.Status }
func (r rawResponse) ContentType() string { return r.Header.Get("Content-Type") }
func (r rawResponse) GetBody() []byte     { return r.Body }

// rawRequest sends one request with plain net/http. headers are name, value
// pairs.
func rawRequest(ctx context.Context, t *testing.T, baseURL, method, path string, body io.Reader, headers ...string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// raw sends a request with the user's token.
func (u *apiUser) raw(ctx context.Context, t *testing.T, method, path string, body io.Reader, headers ...string) rawResponse {
	t.Helper()
	headers = append([]string{"Authorization", "Bearer " + u.Token}, headers...)
	if body != nil {
		headers = append(headers, "Content-Type", "application/json")
	}
	return rawRequest(ctx, t, u.srv.BaseURL, method, path, body, headers...)
}

// response is what every generated response type and rawResponse offer.
type response interface {
	StatusCode() int
	ContentType() string
	GetBody() []byte
}

// mustStatus fails the test now unless the call succeeded with the status.
func mustStatus(t *testing.T, what string, r response, err error, want int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if r.StatusCode() != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.StatusCode(), want, r.GetBody())
	}
}

// checkStatus is mustStatus that lets the test go on; it reports whether the
// status was right.
func checkStatus(t *testing.T, what string, r response, err error, want int) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	if r.StatusCode() != want {
		t.Errorf("%s: status %d, want %d; body: %s", what, r.StatusCode(), want, r.GetBody())
		return false
	}
	return true
}

// mediaType returns the media type of a Content-Type, without parameters.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType
	}
	return mt
}

// checkProblem checks that r is an RFC 9457 problem with the status and code
// and returns it decoded (nil after reporting an error if it is not).
func checkProblem(t *testing.T, what string, r response, err error, status int, code string) *api.Problem {
	t.Helper()
	if !checkStatus(t, what, r, err, status) {
		return nil
	}
	if mt := mediaType(r.ContentType()); mt != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, r.ContentType())
	}
	var p api.Problem
	if err := json.Unmarshal(r.GetBody(), &p); err != nil {
		t.Errorf("%s: problem body is not JSON: %v: %s", what, err, r.GetBody())
		return nil
	}
	if p.Status != status {
		t.Errorf("%s: problem status %d, want %d", what, p.Status, status)
	}
	if string(p.Code) != code {
		t.Errorf("%s: problem code %q, want %q; body: %s", what, p.Code, code, r.GetBody())
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("%s: problem without type or title: %s", what, r.GetBody())
	}
	return &p
}

// fieldKind says how an errors[] entry names what is wrong.
type fieldKind int

const (
	byParameter fieldKind = iota // a query, path or header parameter
	byPointer                    // a JSON Pointer into the body
)

// checkNames checks that p.errors has an entry naming each of names (by
// parameter or pointer), each with a detail.
func checkNames(t *testing.T, what string, p *api.Problem, kind fieldKind, names ...string) {
	t.Helper()
	if p == nil {
		return
	}
	if p.Errors == nil || len(*p.Errors) == 0 {
		t.Errorf("%s: problem has no errors[]; want entries for %q", what, names)
		return
	}
	var got []string
	for _, e := range *p.Errors {
		if e.Detail == "" {
			t.Errorf("%s: errors[] entry without detail: %+v", what, e)
		}
		switch {
		case kind == byParameter && e.Parameter != nil:
			got = append(got, *e.Parameter)
		case kind == byPointer && e.Pointer != nil:
			got = append(got, *e.Pointer)
		}
	}
	for _, n := range names {
		if !slices.Contains(got, n) {
			label := "parameter"
			if kind == byPointer {
				label = "pointer"
			}
			t.Errorf("%s: no errors[] entry with %s %q; got %s", what, label, n, describeErrors(p))
		}
	}
}

func describeErrors(p *api.Problem) string {
	if p.Errors == nil {
		return "none"
	}
	b, _ := json.Marshal(*p.Errors)
	return string(b)
}

// jsonObject decodes a JSON object, for checks on keys the typed models
// cannot see (absent versus null, keys that must never appear).
func jsonObject(t *testing.T, what string, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v: %s", what, err, body)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// deref returns *p, or the zero value for nil, for messages.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// serveRefuses runs the binary with args and env and checks that it exits
// non-zero within 20 s, saying want on stderr (a flag's name, say); a
// server that starts after all is stopped then, not left to the test's end.
func serveRefuses(ctx context.Context, t *testing.T, what string, env, args []string, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env, cmd.Stderr = env, &stderr
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); !exited || ctx.Err() != nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("%s: %v (timed out: %v), stderr %q; want a non-zero exit saying %q", what, err, ctx.Err() != nil, stderr.String(), want)
	}
}
