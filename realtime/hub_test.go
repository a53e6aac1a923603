package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func TestAuth(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	cfg := w.config()
	cfg.AllowedOrigins = []string{"app.example.com", "*.partner.example"}
	f := start(t, cfg)

	refused := []struct {
		name   string
		url    string
		header http.Header
		status int
		code   string
	}{
		{"no token", f.wsURL, nil, 401, "unauthorized"},
		{"bad token", f.wsURL, http.Header{"Authorization": {"Bearer nope"}}, 401, "unauthorized"},
		{"bad query token", f.wsURL + "?access_token=nope", nil, 401, "unauthorized"},
		{"not a bearer token", f.wsURL, http.Header{"Authorization": {"Basic dG9rLWFsaWNl"}}, 401, "unauthorized"},
		{"empty bearer", f.wsURL, http.Header{"Authorization": {"Bearer "}}, 401, "unauthorized"},
		{"origin not allowed", f.wsURL, http.Header{"Authorization": {"Bearer tok-alice"}, "Origin": {"https://evil.example"}}, 403, ""},
		{"origin pattern does not match the apex", f.wsURL, http.Header{"Authorization": {"Bearer tok-alice"}, "Origin": {"https://partner.example"}}, 403, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := dialOpts(t, tt.url, &websocket.DialOptions{HTTPHeader: tt.header})
			if err == nil {
				c.CloseNow()
				t.Fatal("upgraded, want refusal")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("response %v (%v), want %d", resp, err, tt.status)
			}
			if tt.code == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			body, _ := io.ReadAll(resp.Body)
			p := decode[problemDoc](t, body)
			if p.Status != tt.status || p.Code != tt.code || p.Title != http.StatusText(tt.status) ||
				p.Type != "https://domainflow.dev/problems/"+tt.code || p.Detail == "" {
				t.Errorf("problem = %s", body)
			}
		})
	}

	accepted := []struct {
		name   string
		url    string
		header http.Header
	}{
		{"header", f.wsURL, http.Header{"Authorization": {"Bearer tok-alice"}}},
		{"access_token query", f.wsURL + "?access_token=tok-alice", nil},
		{"same origin", f.wsURL + "?access_token=tok-alice", http.Header{"Origin": {f.srv.URL}}},
		{"allowed origin", f.wsURL + "?access_token=tok-alice", http.Header{"Origin": {"https://app.example.com"}}},
		{"allowed origin pattern", f.wsURL, http.Header{"Authorization": {"bearer tok-alice"}, "Origin": {"https://eu.partner.example"}}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := dialOpts(t, tt.url, &websocket.DialOptions{HTTPHeader: tt.header})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			f.waitConnections(t, 1)
			r := read(t, c)
			publish(t, f.hub, notification(alice, "hello "+tt.name))
			if got := noteText(t, r.next(t)); got != "hello "+tt.name {
				t.Errorf("got %q", got)
			}
			c.Close(websocket.StatusNormalClosure, "")
			f.waitConnections(t, 0)
		})
	}
}

// A ticket in the query authenticates a handshake once, as its own user;
// the Authorization header, when there is one, wins and leaves the ticket
// unused.
func TestTicketAuth(t *testing.T) {
	w := newWorld()
	alice, bob := w.user("tok-alice"), w.user("tok-bob")
	f := start(t, w.config())

	works := func(t *testing.T, url string, header http.Header, user uuid.UUID, what string) {
		t.Helper()
		c, _, err := dialOpts(t, url, &websocket.DialOptions{HTTPHeader: header})
		if err != nil {
			t.Fatalf("%s: dial: %v", what, err)
		}
		f.waitConnections(t, 1)
		r := read(t, c)
		publish(t, f.hub, notification(alice, "for alice"))
		publish(t, f.hub, notification(bob, "for bob"))
		want := map[uuid.UUID]string{alice: "for alice", bob: "for bob"}[user]
		if got := noteText(t, r.next(t)); got != want {
			t.Errorf("%s: first event %q; want %q (the ticket's own user's)", what, got, want)
		}
		c.Close(websocket.StatusNormalClosure, "")
		f.waitConnections(t, 0)
	}
	refused := func(t *testing.T, url string, what string) {
		t.Helper()
		c, resp, err := dialOpts(t, url, nil)
		if err == nil {
			c.CloseNow()
			t.Fatalf("%s: upgraded, want 401", what)
		}
		if resp == nil || resp.StatusCode != 401 {
			t.Fatalf("%s: response %v (%v), want 401", what, resp, err)
		}
	}

	w.ticket("tk-1", alice)
	works(t, f.wsURL+"?ticket=tk-1", nil, alice, "alice's ticket")
	refused(t, f.wsURL+"?ticket=tk-1", "the same ticket again")
	refused(t, f.wsURL+"?ticket=nope", "an unknown ticket")

	w.ticket("tk-2", bob)
	works(t, f.wsURL+"?ticket=tk-2", nil, bob, "bob's ticket")

	// A ticket beside a token in the query: the ticket decides.
	refused(t, f.wsURL+"?ticket=nope&access_token=tok-alice", "a bad ticket beside a good access_token")

	// With the Authorization header, the ticket is not even looked at.
	w.ticket("tk-3", bob)
	works(t, f.wsURL+"?ticket=tk-3", http.Header{"Authorization": {"Bearer tok-alice"}}, alice, "a header beside a ticket")
	works(t, f.wsURL+"?ticket=tk-3", nil, bob, "the ticket the header left unused")

	t.Run("a hub without RedeemTicket", func(t *testing.T) {
		cfg := w.config()
		cfg.RedeemTicket = nil
		g := start(t, cfg)
		w.ticket("tk-4", alice)
		refused(t, g.wsURL+"?ticket=tk-4", "a ticket")
	})
}

func TestEventsOnlyReachTheirUser(t *testing.T) {
	w := newWorld()
	alice, bob := w.user("tok-alice"), w.user("tok-bob")
	ca := w.campaign(alice, domainflow.StatusDraft, 0)
	f := start(t, w.config())
	ra := read(t, f.dial(t, "tok-alice", 1))
	ra2 := read(t, f.dial(t, "tok-alice", 2)) // a second tab
	rb := read(t, f.dial(t, "tok-bob", 3))

	publish(t, f.hub, domainflow.Event{Type: domainflow.EventPhaseTransition, UserID: alice, CampaignID: &ca.ID,
		Data: map[string]string{"from": "generation", "to": "dns"}})
	publish(t, f.hub, notification(alice, "for alice"))
	publish(t, f.hub, domainflow.Event{Type: domainflow.EventProxyStatus, UserID: alice, Data: map[string]any{"healthy": false}})
	publish(t, f.hub, notification(bob, "for bob"))

	for _, r := range []*reader{ra, ra2} {
		for _, want := range []domainflow.EventType{domainflow.EventPhaseTransition, domainflow.EventSystemNotification, domainflow.EventProxyStatus} {
			if e := r.next(t); e.Type != want {
				t.Errorf("alice got %s, want %s", e.raw, want)
			}
		}
	}
	// Bob's first message is his own: nothing of Alice's came before it.
	if got := noteText(t, rb.next(t)); got != "for bob" {
		t.Errorf("bob got %q first", got)
	}
	ra.none(t, 100*time.Millisecond)
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestOrderAndSeq(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	cfg := w.config()
	cfg.CoalesceInterval = 5 * time.Millisecond // so that several progress messages go out
	f := start(t, cfg)
	r := read(t, f.dial(t, "tok-alice", 1))

	c := &domainflow.Campaign{ID: uuid.New(), UserID: alice, Status: domainflow.StatusRunning,
		CurrentPhase: domainflow.PhaseDNS, TotalDomains: 1000}
	publish(t, f.hub, domainflow.Event{Type: domainflow.EventPhaseTransition, UserID: alice, CampaignID: &c.ID,
		Data: map[string]string{"from": "generation", "to": "dns"}})
	const n = 1000
	for i := 1; i <= n; i++ {
		c.Counts = domainflow.Counts{Generated: 1000, DNSOK: int64(i)}
		publish(t, f.hub, domainflow.ProgressEvent(c))
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	publish(t, f.hub, domainflow.Event{Type: domainflow.EventCampaignCompleted, UserID: alice, CampaignID: &c.ID,
		Data: map[string]string{"status": "completed"}})

	var got []env
	for {
		e := r.next(t)
		got = append(got, e)
		if e.Type == domainflow.EventCampaignCompleted {
			break
		}
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, e.Seq)
		}
		if e.CampaignID == nil || *e.CampaignID != c.ID {
			t.Errorf("message %d: campaign_id %v", i, e.CampaignID)
		}
		if !timeRE.MatchString(e.Time) {
			t.Errorf("time %q is not RFC 3339 with ms", e.Time)
		}
	}
	if got[0].Type != domainflow.EventPhaseTransition || len(got) < 3 {
		t.Fatalf("got %d messages, first %s", len(got), got[0].raw)
	}
	last := -1
	for _, e := range got[1 : len(got)-1] {
		if e.Type != domainflow.EventCampaignProgress {
			t.Fatalf("between transition and completion: %s", e.raw)
		}
		p := decode[domainflow.CampaignProgressData](t, e.Data)
		if int(p.DNS.Validated) <= last {
			t.Errorf("progress went back: %d after %d", p.DNS.Validated, last)
		}
		last = int(p.DNS.Validated)
	}
	if last != n {
		t.Errorf("last progress before completion has dns.validated %d, want %d", last, n)
	}
	t.Logf("%d progress events sent as %d messages", n, len(got)-2)
}

func TestProgressCoalescing(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	cfg := w.config()
	cfg.CoalesceInterval = 250 * time.Millisecond
	f := start(t, cfg)
	r := read(t, f.dial(t, "tok-alice", 1))

	c := &domainflow.Campaign{ID: uuid.New(), UserID: alice, Status: domainflow.StatusRunning,
		CurrentPhase: domainflow.PhaseGeneration, TotalDomains: 10000}
	const n = 10000
	begin := time.Now()
	for i := 1; i <= n; i++ {
		c.Counts.Generated = int64(i)
		publish(t, f.hub, domainflow.ProgressEvent(c))
		if i%10 == 0 {
			time.Sleep(100 * time.Microsecond) // spread over about a second
		}
	}
	published := time.Since(begin)

	count := 0
	for {
		e := r.next(t)
		if e.Type != domainflow.EventCampaignProgress {
			t.Fatalf("unexpected %s", e.raw)
		}
		count++
		p := decode[domainflow.CampaignProgressData](t, e.Data)
		if p.Generated == n {
			if p.Processed != n || p.Total != 4*n || p.Percent != 25 || p.Status != domainflow.StatusRunning ||
				p.CurrentPhase == nil || *p.CurrentPhase != domainflow.PhaseGeneration || p.DNS.Generated != n ||
				p.HTTP.Skipped == nil || p.DNS.Skipped != nil {
				t.Errorf("final progress = %s", e.Data)
			}
			break
		}
	}
	elapsed := time.Since(begin)
	limit := int(elapsed/cfg.CoalesceInterval) + 2
	t.Logf("%d events published in %v; %d messages received in %v (limit %d)", n, published, count, elapsed, limit)
	if count > limit {
		t.Errorf("%d progress messages in %v, want at most %d", count, elapsed, limit)
	}
	r.none(t, 2*cfg.CoalesceInterval) // and nothing after the final state
}

func TestDeprecatedTypesRefused(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	ca := w.campaign(alice, domainflow.StatusDraft, 0)
	f := start(t, w.config())
	r := read(t, f.dial(t, "tok-alice", 1))

	for _, typ := range []domainflow.EventType{"domain_generated", "dns.validation.result", "http.validation.result", "dashboard_activity", "bogus", ""} {
		err := f.hub.Publish(domainflow.Event{Type: typ, UserID: alice, CampaignID: &ca.ID, Data: map[string]string{"domain": "x.com"}})
		if domainflow.ErrorCode(err) != domainflow.EINVALID {
			t.Errorf("Publish(%q) = %v, want an invalid error", typ, err)
		}
	}
	if got := f.hub.Stats().Refused; got != 6 {
		t.Errorf("Refused = %d, want 6", got)
	}
	publish(t, f.hub, notification(alice, "sentinel"))
	if got := noteText(t, r.next(t)); got != "sentinel" {
		t.Errorf("first message %q, want the sentinel", got)
	}
	r.none(t, 300*time.Millisecond)

	// Other mistakes are refused too, without counting as forbidden types.
	for _, ev := range []domainflow.Event{
		{Type: domainflow.EventPhaseTransition, CampaignID: &ca.ID},                           // no user
		{Type: domainflow.EventCampaignProgress, UserID: alice},                               // no campaign
		{Type: domainflow.EventSystemNotification, UserID: alice, Data: func() {}},            // not JSON
		{Type: domainflow.EventSystemNotification, UserID: alice, Data: json.RawMessage("{")}, // not JSON
	} {
		if err := f.hub.Publish(ev); domainflow.ErrorCode(err) != domainflow.EINVALID {
			t.Errorf("Publish(%+v) = %v, want an invalid error", ev, err)
		}
	}
	if got := f.hub.Stats().Refused; got != 6 {
		t.Errorf("Refused = %d, want 6", got)
	}
}

func TestStateOnConnect(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	running := w.campaign(alice, domainflow.StatusRunning, 10)
	queued := w.campaign(alice, domainflow.StatusQueued, 0)
	w.campaign(alice, domainflow.StatusCompleted, 1000) // not active
	w.activeDelay = 100 * time.Millisecond              // live events pile up meanwhile
	f := start(t, w.config())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			f.hub.Publish(notification(alice, "live"))
		}
	})
	defer func() { close(stop); wg.Wait() }()

	r := read(t, f.dial(t, "tok-alice", 1))
	for i, want := range []*domainflow.Campaign{running, queued} {
		e := r.next(t)
		if e.Type != domainflow.EventCampaignProgress || e.CampaignID == nil || *e.CampaignID != want.ID || e.Seq != uint64(i+1) {
			t.Fatalf("message %d = %s, want the progress of %s", i+1, e.raw, want.ID)
		}
		p := decode[domainflow.CampaignProgressData](t, e.Data)
		if p.Status != want.Status || p.Generated != want.Counts.Generated || p.TotalDomains != want.TotalDomains {
			t.Errorf("progress = %s", e.Data)
		}
	}
	if e := r.next(t); noteText(t, e) != "live" || e.Seq != 3 {
		t.Errorf("then %s, want live events", e.raw)
	}
}

func TestSubscribe(t *testing.T) {
	w := newWorld()
	alice, bob := w.user("tok-alice"), w.user("tok-bob")
	c1 := w.campaign(alice, domainflow.StatusRunning, 5)
	c2 := w.campaign(alice, domainflow.StatusDraft, 0)
	cb := w.campaign(bob, domainflow.StatusDraft, 0)
	f := start(t, w.config())
	c := f.dial(t, "tok-alice", 1)
	r := read(t, c)
	if e := r.next(t); e.Type != domainflow.EventCampaignProgress || *e.CampaignID != c1.ID {
		t.Fatalf("snapshot %s", e.raw)
	}

	send(t, c, `{"type":"subscribe","campaign_id":"`+c2.ID.String()+`"}`)
	if e := r.next(t); e.Type != domainflow.EventCampaignProgress || *e.CampaignID != c2.ID {
		t.Fatalf("subscribe answered %s, want the campaign's progress", e.raw)
	}
	transition := func(id uuid.UUID) domainflow.Event {
		return domainflow.Event{Type: domainflow.EventPhaseTransition, UserID: alice, CampaignID: &id, Data: map[string]string{"to": "dns"}}
	}
	publish(t, f.hub, transition(c1.ID))
	publish(t, f.hub, transition(c2.ID))
	publish(t, f.hub, domainflow.Event{Type: domainflow.EventProxyListUpdate, UserID: alice, Data: map[string]string{"action": "created"}})
	publish(t, f.hub, notification(alice, "narrowed"))
	if e := r.next(t); e.Type != domainflow.EventPhaseTransition || *e.CampaignID != c2.ID {
		t.Errorf("narrowed to c2, got %s", e.raw)
	}
	if e := r.next(t); e.Type != domainflow.EventProxyListUpdate || e.CampaignID != nil {
		t.Errorf("proxy events pass the narrowing, got %s", e.raw)
	}
	if got := noteText(t, r.next(t)); got != "narrowed" {
		t.Errorf("got %q", got)
	}

	// Someone else's campaign and a missing one get the same answer, and
	// the narrowing stays.
	var answers []env
	for _, id := range []uuid.UUID{cb.ID, uuid.New()} {
		send(t, c, `{"type":"subscribe","campaign_id":"`+id.String()+`"}`)
		e := r.next(t)
		if e.Type != domainflow.EventError || e.CampaignID != nil {
			t.Fatalf("subscribe to %s answered %s", id, e.raw)
		}
		answers = append(answers, e)
	}
	if string(answers[0].Data) != string(answers[1].Data) {
		t.Errorf("someone else's campaign: %s; a missing one: %s", answers[0].Data, answers[1].Data)
	}
	d := decode[map[string]any](t, answers[0].Data)
	if d["code"] != "not_found" || d["retryable"] != false || d["message"] == "" {
		t.Errorf("error data = %s", answers[0].Data)
	}
	if strings.Contains(string(answers[0].raw), cb.ID.String()) {
		t.Errorf("error names bob's campaign: %s", answers[0].raw)
	}

	// unsubscribe widens again; a bad message after it marks when it is done.
	send(t, c, `{"type":"unsubscribe"}`)
	send(t, c, `{"type":"marker"}`)
	if e := r.next(t); e.Type != domainflow.EventError {
		t.Fatalf("got %s", e.raw)
	}
	publish(t, f.hub, transition(c1.ID))
	if e := r.next(t); e.Type != domainflow.EventPhaseTransition || *e.CampaignID != c1.ID {
		t.Errorf("after unsubscribe got %s", e.raw)
	}
}

// A subscribe the store cannot answer because it is down is a retryable
// unavailable error, not an internal one: the connection stays, and the
// client tries again later.
func TestSubscribeWhileTheStoreIsDown(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	c1 := w.campaign(alice, domainflow.StatusDraft, 0)
	cfg := w.config()
	logs := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.CampaignOwned = func(context.Context, uuid.UUID, uuid.UUID) (*domainflow.Campaign, error) {
		return nil, fmt.Errorf("get campaign: %w", domainflow.Errorf(domainflow.EUNAVAILABLE, "The database is unreachable."))
	}
	f := start(t, cfg)
	c := f.dial(t, "tok-alice", 1)
	r := read(t, c)

	send(t, c, `{"type":"subscribe","campaign_id":"`+c1.ID.String()+`"}`)
	e := r.next(t)
	if e.Type != domainflow.EventError {
		t.Fatalf("subscribe answered %s, want an error", e.raw)
	}
	d := decode[map[string]any](t, e.Data)
	if d["code"] != "unavailable" || d["retryable"] != true || d["message"] != "The database is unreachable." {
		t.Errorf("error data = %s", e.Data)
	}
	publish(t, f.hub, notification(alice, "still here"))
	if got := noteText(t, r.next(t)); got != "still here" {
		t.Errorf("after the refusal got %q, want the connection to carry on", got)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("an unavailable store was logged as an error: %s", logs)
	}
}

func TestBadClientMessages(t *testing.T) {
	w := newWorld()
	w.user("tok-alice")
	f := start(t, w.config())
	c := f.dial(t, "tok-alice", 1)
	r := read(t, c)

	bad := []string{
		`not json`,
		`{"type":"dance"}`,
		`{"type":"subscribe"}`,
		`{"type":"subscribe","campaign_id":"not-a-uuid"}`,
		`null`,
	}
	for _, msg := range bad {
		send(t, c, msg)
		e := r.next(t)
		if e.Type != domainflow.EventError {
			t.Fatalf("%s answered %s", msg, e.raw)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(e.raw, &m)
		if _, ok := m["campaign_id"]; ok {
			t.Errorf("campaign_id present: %s", e.raw)
		}
		d := decode[map[string]any](t, e.Data)
		if d["code"] != "invalid" || d["retryable"] != false || d["message"] == "" {
			t.Errorf("%s answered %s", msg, e.Data)
		}
	}
	send(t, c, `{"type":"subscribe","campaign_id":[]}`) // the sixth
	err := r.closed(t)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("closed with %v, want StatusPolicyViolation", err)
	}
	f.waitConnections(t, 0)

	t.Run("binary", func(t *testing.T) {
		c := f.dial(t, "tok-alice", 1)
		r := read(t, c)
		if err := c.Write(context.Background(), websocket.MessageBinary, []byte(`{"type":"unsubscribe"}`)); err != nil {
			t.Fatal(err)
		}
		if e := r.next(t); e.Type != domainflow.EventError {
			t.Errorf("got %s", e.raw)
		}
		c.Close(websocket.StatusNormalClosure, "")
		f.waitConnections(t, 0)
	})

	t.Run("oversized", func(t *testing.T) {
		c := f.dial(t, "tok-alice", 1)
		r := read(t, c)
		send(t, c, `{"type":"subscribe","campaign_id":"`+strings.Repeat("x", 5000)+`"}`)
		err := r.closed(t)
		// coder/websocket closes with 1009 on its read limit (see readLoop).
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Errorf("closed with %v, want StatusMessageTooBig", err)
		}
		f.waitConnections(t, 0)
	})
}

func TestSlowClientDropped(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	cfg := w.config()
	// The fast client may lag by SendBuffer events. The slow one has a few MB
	// of socket buffers (see smallReadBuffer), about 2,000 of these events,
	// then fills its SendBuffer well before the 10,000th.
	cfg.SendBuffer = 4096
	cfg.PingInterval = time.Minute // the slow client would fail pings too
	f := start(t, cfg)

	slow, _, err := dialOpts(t, f.wsURL, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer tok-alice"}},
		HTTPClient: smallReadBuffer(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.waitConnections(t, 1)
	fast := read(t, f.dial(t, "tok-alice", 2))

	const n = 10000
	text := strings.Repeat("x", 2000)
	done := make(chan time.Duration, 1)
	var maxCall time.Duration
	go func() {
		begin := time.Now()
		for i := range n {
			t0 := time.Now()
			err := f.hub.Publish(domainflow.Event{Type: domainflow.EventSystemNotification, UserID: alice,
				Data: map[string]any{"level": "info", "message": text, "i": i}})
			maxCall = max(maxCall, time.Since(t0))
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
			if i%10 == 0 {
				time.Sleep(100 * time.Microsecond) // a busy engine, not a flood the fast client cannot read
			}
		}
		done <- time.Since(begin)
	}()
	var took time.Duration
	select {
	case took = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked")
	}
	t.Logf("published %d events in %v, slowest call %v", n, took, maxCall)

	// The slow client is gone from the hub before it reads anything.
	if st := f.hub.Stats(); st.Drops != 1 || st.Connections != 1 {
		t.Errorf("after publishing: drops %d, connections %d; want 1, 1", st.Drops, st.Connections)
	}
	slowR := read(t, slow)

	for i := range n {
		e := fast.next(t)
		if e.Seq != uint64(i+1) || decode[struct{ I int }](t, e.Data).I != i {
			t.Fatalf("fast client: message %d is %.100s", i, e.raw)
		}
	}
	err = slowR.closed(t)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("slow client closed with %v, want StatusPolicyViolation", err)
	}
	if st := f.hub.Stats(); st.MessagesByType[domainflow.EventSystemNotification] < n {
		t.Errorf("stats %+v", st)
	}
}

func TestDeadPeerDropped(t *testing.T) {
	w := newWorld()
	w.user("tok-alice")
	cfg := w.config()
	cfg.PingInterval = 200 * time.Millisecond
	f := start(t, cfg)
	c := f.dial(t, "tok-alice", 1) // never reads, so never answers pings
	f.waitConnections(t, 0)
	if st := f.hub.Stats(); st.Drops != 0 || st.ConnectionsTotal != 1 {
		t.Errorf("stats %+v", st)
	}
	_, _, err := c.Read(context.Background())
	if err == nil {
		t.Error("connection still open")
	}

	live := read(t, f.dial(t, "tok-alice", 1)) // one that reads stays
	time.Sleep(5 * cfg.PingInterval)
	if got := f.hub.Stats().Connections; got != 1 {
		t.Errorf("a client answering pings was dropped: connections %d", got)
	}
	_ = live
}

func TestClose(t *testing.T) {
	w := newWorld()
	w.user("tok-alice")
	w.user("tok-bob")
	f := start(t, w.config())
	ra := read(t, f.dial(t, "tok-alice", 1))
	rb := read(t, f.dial(t, "tok-bob", 2))

	f.hub.Close()
	for _, r := range []*reader{ra, rb} {
		if err := r.closed(t); websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("closed with %v, want StatusGoingAway", err)
		}
	}
	if st := f.hub.Stats(); st.Connections != 0 {
		t.Errorf("connections %d", st.Connections)
	}
	_, resp, err := dialOpts(t, f.wsURL, bearer("tok-alice"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %v %v, want 503", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if p := decode[problemDoc](t, body); p.Code != "unavailable" {
		t.Errorf("problem %s", body)
	}
	if err := f.hub.Publish(notification(uuid.New(), "late")); domainflow.ErrorCode(err) != domainflow.EUNAVAILABLE {
		t.Errorf("Publish after Close = %v", err)
	}
	f.hub.Close() // idempotent
}

func TestBroadcastNotification(t *testing.T) {
	w := newWorld()
	w.user("tok-alice")
	w.user("tok-bob")
	f := start(t, w.config())
	ra := read(t, f.dial(t, "tok-alice", 1))
	rb := read(t, f.dial(t, "tok-bob", 2))
	publish(t, f.hub, notification(uuid.Nil, "maintenance at noon"))
	for _, r := range []*reader{ra, rb} {
		if got := noteText(t, r.next(t)); got != "maintenance at noon" {
			t.Errorf("got %q", got)
		}
	}
}

// lockedBuffer collects log lines written by the hub's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAuthenticateFailure(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		detail string
		logged bool
	}{
		{"internal", errors.New("database is down"), 500, "internal", "Internal error.", true},
		{"unavailable", domainflow.Errorf(domainflow.EUNAVAILABLE, "The database does not answer."), 503, "unavailable", "The database does not answer.", false},
		{"refused", domainflow.Errorf(domainflow.EUNAUTHORIZED, "The API token has expired."), 401, "unauthorized", "The API token has expired.", false},
		{"any other code refuses the token", domainflow.Errorf(domainflow.ENOTFOUND, "No such user."), 401, "unauthorized", "The API token is not valid.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &lockedBuffer{}
			cfg := newWorld().config()
			cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			cfg.Authenticate = func(context.Context, string) (domainflow.Access, error) { return domainflow.Access{}, tt.err }
			f := start(t, cfg)
			_, resp, err := dialOpts(t, f.wsURL+"?access_token=tok-secret", nil)
			if err == nil || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("%v %v, want %d", resp, err, tt.status)
			}
			body, _ := io.ReadAll(resp.Body)
			p := decode[problemDoc](t, body)
			if p.Status != tt.status || p.Code != tt.code || p.Detail != tt.detail || p.Type != "https://domainflow.dev/problems/"+tt.code {
				t.Errorf("problem = %s", body)
			}
			if retry := resp.Header.Get("Retry-After"); (tt.status == 503) != (retry != "") {
				t.Errorf("%d with Retry-After %q: want one exactly on a 503", tt.status, retry)
			}
			if strings.Contains(string(body), "database is") {
				t.Errorf("internal error leaked: %s", body)
			}
			got := logs.String()
			if logged := strings.Contains(got, `"level":"ERROR"`); logged != tt.logged {
				t.Errorf("logged %v, want %v: %s", logged, tt.logged, got)
			}
			if tt.logged && (!strings.Contains(got, `"err":"database is down"`) || !strings.Contains(got, `"path":"/api/v1/ws"`)) {
				t.Errorf("log line without the error or the path: %s", got)
			}
			if strings.Contains(got, "tok-secret") {
				t.Errorf("the token reached the log: %s", got)
			}
		})
	}
}

// MaxPerToken bounds the connections of one token, whether it comes in the
// header or the query: the next handshake is answered 429 quota_websockets
// before any upgrade, another token (of the same user too) is not held to
// it, and a closed connection makes room again.
func TestConnectionsPerToken(t *testing.T) {
	w := newWorld()
	alice := w.user("tok-alice")
	w.mu.Lock()
	w.tokens["tok-alice-2"] = alice
	w.mu.Unlock()
	cfg := w.config()
	cfg.MaxPerToken = 2
	f := start(t, cfg)
	key := tokenID("tok-alice")

	first := f.dial(t, "tok-alice", 1)
	c, _, err := dialOpts(t, f.wsURL+"?access_token=tok-alice", nil)
	if err != nil {
		t.Fatalf("second connection: %v", err)
	}
	f.waitConnections(t, 2)
	if n := f.hub.TokenConnections(key); n != 2 {
		t.Errorf("TokenConnections = %d, want 2", n)
	}
	for _, opts := range []*websocket.DialOptions{bearer("tok-alice"), {}} {
		url := f.wsURL
		if opts.HTTPHeader == nil {
			url += "?access_token=tok-alice"
		}
		c, resp, err := dialOpts(t, url, opts)
		if err == nil {
			c.CloseNow()
			t.Fatal("third connection upgraded, want 429")
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third connection: response %v (%v), want 429", resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if p := decode[problemDoc](t, body); p.Status != 429 || p.Code != "quota_websockets" || p.Detail == "" ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("third connection: problem %s (%s)", body, resp.Header.Get("Content-Type"))
		}
	}
	other := f.dial(t, "tok-alice-2", 3)
	other.Close(websocket.StatusNormalClosure, "")

	first.Close(websocket.StatusNormalClosure, "")
	f.waitConnections(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for f.hub.TokenConnections(key) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("TokenConnections = %d after a close, want 1", f.hub.TokenConnections(key))
		}
		time.Sleep(time.Millisecond)
	}
	again := f.dial(t, "tok-alice", 2)
	again.Close(websocket.StatusNormalClosure, "")
	c.Close(websocket.StatusNormalClosure, "")
	f.waitConnections(t, 0)
}
