package realtime_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/realtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// testLogger logs to stderr with -v, nothing otherwise.
func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("REALTIME_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discard
}

// world is the service around the hub: users with tokens, and campaigns.
type world struct {
	mu          sync.Mutex
	tokens      map[string]uuid.UUID
	tickets     map[string]uuid.UUID // single-use
	campaigns   map[uuid.UUID]*domainflow.Campaign
	order       []uuid.UUID
	activeDelay time.Duration
}

func newWorld() *world {
	return &world{tokens: map[string]uuid.UUID{}, tickets: map[string]uuid.UUID{}, campaigns: map[uuid.UUID]*domainflow.Campaign{}}
}

// ticket adds a single-use ticket acting for user.
func (w *world) ticket(ticket string, user uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tickets[ticket] = user
}

// tokenID is the id the world gives the token: one per token text.
func tokenID(token string) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceOID, []byte(token)) }

// user adds a user whose API token is token.
func (w *world) user(token string) uuid.UUID {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := uuid.New()
	w.tokens[token] = id
	return id
}

// campaign adds a campaign of the user.
func (w *world) campaign(user uuid.UUID, status domainflow.CampaignStatus, generated int64) *domainflow.Campaign {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := &domainflow.Campaign{
		ID: uuid.New(), UserID: user, Name: "c", Status: status, TotalDomains: 1000,
		Counts: domainflow.Counts{Generated: generated},
	}
	if status == domainflow.StatusRunning {
		c.CurrentPhase = domainflow.PhaseGeneration
	}
	w.campaigns[c.ID] = c
	w.order = append(w.order, c.ID)
	return c
}

func (w *world) config() realtime.Config {
	return realtime.Config{
		Logger: testLogger(),
		Authenticate: func(ctx context.Context, token string) (domainflow.Access, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if id, ok := w.tokens[token]; ok {
				return domainflow.Access{UserID: id, TokenID: tokenID(token)}, nil
			}
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "The API token is not valid.")
		},
		RedeemTicket: func(ctx context.Context, ticket string) (domainflow.Access, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if id, ok := w.tickets[ticket]; ok {
				delete(w.tickets, ticket)
				return domainflow.Access{UserID: id, TokenID: tokenID("ticket " + ticket)}, nil
			}
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "The ticket is not valid.")
		},
		CampaignOwned: func(ctx context.Context, user, id uuid.UUID) (*domainflow.Campaign, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if c, ok := w.campaigns[id]; ok && c.UserID == user {
				cp := *c
				return &cp, nil
			}
			return nil, domainflow.Errorf(domainflow.ENOTFOUND, "Campaign %s not found.", id)
		},
		ActiveCampaigns: func(ctx context.Context, user uuid.UUID) ([]*domainflow.Campaign, error) {
			w.mu.Lock()
			delay := w.activeDelay
			var out []*domainflow.Campaign
			for _, id := range w.order {
				c := w.campaigns[id]
				if c.UserID == user && (c.Status == domainflow.StatusQueued || c.Status == domainflow.StatusRunning) {
					cp := *c
					out = append(out, &cp)
				}
			}
			w.mu.Unlock()
			time.Sleep(delay)
			return out, nil
		},
	}
}

type fixture struct {
	hub   *realtime.Hub
	srv   *httptest.Server
	wsURL string
}

// start serves a hub at /api/v1/ws on loopback; both stop when the test ends.
func start(t *testing.T, cfg realtime.Config) *fixture {
	t.Helper()
	hub := realtime.NewHub(cfg)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/ws", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close) // first: hijacked connections are the hub's to close
	return &fixture{hub: hub, srv: srv, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/ws"}
}

// dialOpts opens a WebSocket; the connection is dropped when the test ends.
func dialOpts(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func bearer(token string) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}}
}

// dial connects as the token's user and waits until the hub counts want
// connections, so that events published next reach it.
func (f *fixture) dial(t *testing.T, token string, want int64) *websocket.Conn {
	t.Helper()
	c, _, err := dialOpts(t, f.wsURL, bearer(token))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	f.waitConnections(t, want)
	return c
}

func (f *fixture) waitConnections(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.hub.Stats().Connections != want {
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d, want %d", f.hub.Stats().Connections, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// env is an envelope as a client receives it.
type env struct {
	Type       domainflow.EventType `json:"type"`
	Seq        uint64               `json:"seq"`
	Time       string               `json:"time"`
	CampaignID *uuid.UUID           `json:"campaign_id"`
	Data       json.RawMessage      `json:"data"`
	raw        []byte
}

// reader reads a connection in the background, as a browser would.
type reader struct {
	msgs chan env
	done chan struct{}
	err  error // set before done is closed
}

func read(t *testing.T, c *websocket.Conn) *reader {
	r := &reader{msgs: make(chan env, 1<<15), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				r.err = err
				return
			}
			var e env
			if err := json.Unmarshal(b, &e); err != nil {
				r.err = err
				return
			}
			e.raw = b
			r.msgs <- e
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-r.done })
	return r
}

// next returns the next message, failing the test if none comes in time.
func (r *reader) next(t *testing.T) env {
	t.Helper()
	select {
	case e := <-r.msgs:
		return e
	case <-r.done:
		select {
		case e := <-r.msgs:
			return e
		default:
		}
		t.Fatalf("connection ended: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message in 10s")
	}
	return env{}
}

// none asserts that nothing arrives for d.
func (r *reader) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-r.msgs:
		t.Fatalf("unexpected message %s", e.raw)
	case <-time.After(d):
	}
}

// closed waits for the connection to end, skipping messages, and returns the
// error that ended it.
func (r *reader) closed(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(20 * time.Second):
		t.Fatal("connection still open after 20s")
	}
	return nil
}

func send(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func publish(t *testing.T, hub *realtime.Hub, ev domainflow.Event) {
	t.Helper()
	if err := hub.Publish(ev); err != nil {
		t.Fatalf("publish %s: %v", ev.Type, err)
	}
}

func notification(user uuid.UUID, msg string) domainflow.Event {
	return domainflow.Event{Type: domainflow.EventSystemNotification, UserID: user,
		Data: map[string]string{"level": "info", "message": msg}}
}

func noteText(t *testing.T, e env) string {
	t.Helper()
	if e.Type != domainflow.EventSystemNotification {
		t.Fatalf("got %s, want system_notification", e.raw)
	}
	return decode[map[string]string](t, e.Data)["message"]
}

// smallReadBuffer is an HTTP client whose connections have a 256 KiB socket
// receive buffer, so that a client that does not read fills up after a few
// megabytes instead of the 32 MiB Linux may grow it to. (Much smaller, below
// the 64 KiB segments of loopback, and the stream crawls on the persist timer.)
func smallReadBuffer() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(256 << 10)
			}
			return c, err
		},
	}}
}
