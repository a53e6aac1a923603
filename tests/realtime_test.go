package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// The realtime tests connect real WebSocket clients (coder/websocket) to
// real "domainflow serve" processes at /api/v1/ws and check what they
// receive against the brief's Realtime section.

// wsTypes are the event types a client may receive.
var wsTypes = map[string]bool{
	"campaign_progress": true, "phase_transition": true, "campaign_completed": true, "error": true,
	"system_notification": true, "proxy_status": true, "proxy_list_update": true, "domains_changed": true,
}

// wsCampaignTypes are the types that are always about one campaign.
var wsCampaignTypes = map[string]bool{
	"campaign_progress": true, "phase_transition": true, "campaign_completed": true, "domains_changed": true,
}

// wsNeverSent are the old per-domain and dashboard events: domain data is
// REST only. They must appear nowhere in any message.
var wsNeverSent = []string{"domain_generated", "dns.validation.result", "http.validation.result", "dashboard_activity"}

// wsMsg is one message a client received.
type wsMsg struct {
	Type       string          `json:"type"`
	Seq        uint64          `json:"seq"`
	Time       string          `json:"time"`
	CampaignID *uuid.UUID      `json:"campaign_id"`
	Data       json.RawMessage `json:"data"`

	raw []byte
	at  time.Time // when the client read it
	bad string    // why it is not a well-formed envelope; "" if it is
}

func (m wsMsg) about(id uuid.UUID) bool { return m.CampaignID != nil && *m.CampaignID == id }

func (m wsMsg) String() string {
	if m.raw == nil {
		return "(no message)"
	}
	return string(m.raw)
}

func parseWSMsg(typ websocket.MessageType, b []byte) wsMsg {
	m := wsMsg{raw: b, at: time.Now()}
	var problems []string
	if typ != websocket.MessageText {
		problems = append(problems, "not a text message")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		problems = append(problems, "not a JSON object: "+err.Error())
	} else {
		for _, k := range []string{"type", "seq", "time", "data"} {
			if _, ok := keys[k]; !ok {
				problems = append(problems, "no "+k)
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			problems = append(problems, "envelope does not decode: "+err.Error())
		}
	}
	m.bad = strings.Join(problems, "; ")
	return m
}

// wsClient is a WebSocket connection whose messages a goroutine reads all
// the time (so that the server never finds it slow, and pings and close
// frames are answered) and keeps for the test.
type wsClient struct {
	name string
	conn *websocket.Conn

	mu     sync.Mutex
	msgs   []wsMsg
	signal chan struct{} // a token after each message
	done   chan struct{} // closed when the reader stops
	err    error         // why it stopped; read after done
	pos    int           // the next message next returns (test goroutine only)
	// synced is the seq of the answer to the subscribe that connectWS sends
	// to make sure the server has registered the connection and sent its
	// snapshot; 0 if it sent none.
	synced uint64
}

// wsURL is the server's WebSocket endpoint, with a query if not "".
func wsURL(s *testServer, query string) string {
	u := "ws" + strings.TrimPrefix(s.BaseURL, "http") + "/api/v1/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialWS opens a WebSocket with the headers given (name, value pairs). On a
// refused handshake the error is set and the response (its body read into
// body) tells the status.
func dialWS(ctx context.Context, u string, headers ...string) (c *websocket.Conn, status int, body []byte, err error) {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: h})
	if resp != nil {
		status = resp.StatusCode
		if err != nil && resp.Body != nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	}
	return c, status, body, err
}

// connectWS opens a WebSocket to s as the user (Authorization header),
// starts reading it and waits until the server serves it: the handshake
// returns before the server has registered the connection and read its
// snapshot, and a campaign started in between would show in both the
// snapshot and the live events. It subscribes to a campaign that does not
// exist and waits for the error (which leaves the connection unnarrowed).
func (u *apiUser) connectWS(ctx context.Context, t *testing.T, s *testServer) *wsClient {
	t.Helper()
	c := u.dialWS(ctx, t, s)
	m := c.subscribe(ctx, t, uuid.Nil)
	if m.Type != "error" {
		t.Fatalf("%s: subscribe to campaign %s answered %s; want an error", c.name, uuid.Nil, m)
	}
	c.synced = m.Seq
	return c
}

// dialWS opens a WebSocket to s as the user and starts reading it.
func (u *apiUser) dialWS(ctx context.Context, t *testing.T, s *testServer) *wsClient {
	t.Helper()
	c, status, body, err := dialWS(ctx, wsURL(s, ""), "Authorization", "Bearer "+u.Token)
	if err != nil {
		t.Fatalf("%s: WebSocket handshake with %s: %v (status %d, body %s)", u.Name, s.BaseURL, err, status, body)
	}
	return startWSClient(t, u.Name+"@"+s.BaseURL, c)
}

// live returns the messages after the connection was synced.
func (c *wsClient) live(msgs []wsMsg) []wsMsg {
	return slices.DeleteFunc(slices.Clone(msgs), func(m wsMsg) bool { return m.Seq <= c.synced })
}

func startWSClient(t *testing.T, name string, conn *websocket.Conn) *wsClient {
	c := &wsClient{name: name, conn: conn, signal: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, b, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			m := parseWSMsg(typ, b)
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			select {
			case c.signal <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		conn.CloseNow()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the WebSocket reader did not stop", name)
		}
	})
	return c
}

func (c *wsClient) take() (wsMsg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos < len(c.msgs) {
		m := c.msgs[c.pos]
		c.pos++
		return m, true
	}
	return wsMsg{}, false
}

// next returns the next message not returned yet, waiting at most timeout;
// false when none came (or the connection ended).
func (c *wsClient) next(timeout time.Duration) (wsMsg, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if m, ok := c.take(); ok {
			return m, true
		}
		select {
		case <-c.done:
			return c.take()
		case <-c.signal:
		case <-timer.C:
			return wsMsg{}, false
		}
	}
}

// waitFor skips messages until one satisfies ok, and fails the test if none
// comes within timeout.
func (c *wsClient) waitFor(t *testing.T, what string, timeout time.Duration, ok func(wsMsg) bool) wsMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, got := c.next(time.Until(deadline))
		if got && ok(m) {
			return m
		}
		if !got {
			state := "open"
			select {
			case <-c.done:
				state = fmt.Sprintf("closed (%v)", c.err)
			default:
			}
			t.Fatalf("%s: no %s within %v; connection %s; %d messages, the last: %s", c.name, what, timeout, state, c.count(), c.last())
		}
	}
}

// all returns every message received so far.
func (c *wsClient) all() []wsMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *wsClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *wsClient) last() wsMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) == 0 {
		return wsMsg{}
	}
	return c.msgs[len(c.msgs)-1]
}

// upTo returns the messages received before (and including) m.
func (c *wsClient) upTo(m wsMsg) []wsMsg {
	msgs := c.all()
	for i, x := range msgs {
		if x.Seq == m.Seq && bytes.Equal(x.raw, m.raw) {
			return msgs[:i+1]
		}
	}
	return msgs
}

// send writes a client message.
func (c *wsClient) send(ctx context.Context, t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.conn.Write(wctx, websocket.MessageText, b); err != nil {
		t.Fatalf("%s: send %s: %v", c.name, b, err)
	}
}

// subscribe narrows the connection to a campaign and returns the reply.
func (c *wsClient) subscribe(ctx context.Context, t *testing.T, id uuid.UUID) wsMsg {
	t.Helper()
	c.send(ctx, t, map[string]any{"type": "subscribe", "campaign_id": id})
	return c.waitFor(t, "answer to subscribe "+id.String(), 10*time.Second, func(m wsMsg) bool {
		return m.Type == "error" || (m.Type == "campaign_progress" && m.about(id))
	})
}

// closed waits for the connection to end and returns its close status (-1
// when it ended without a close frame).
func (c *wsClient) closed(t *testing.T, timeout time.Duration) (websocket.StatusCode, error) {
	t.Helper()
	select {
	case <-c.done:
		return websocket.CloseStatus(c.err), c.err
	case <-time.After(timeout):
		t.Fatalf("%s: the connection was not closed within %v", c.name, timeout)
		return 0, nil
	}
}

// checkEnvelopes checks every message of a connection: a well-formed
// envelope, seq 1, 2, 3… without gaps, an RFC 3339 time, an allowed type,
// a campaign_id on the types about a campaign, and none of the types that
// are never sent anywhere in it.
func checkEnvelopes(t *testing.T, who string, msgs []wsMsg) {
	t.Helper()
	var errs []string
	bad := func(i int, m wsMsg, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("message %d %s: %s", i+1, m, fmt.Sprintf(format, args...)))
	}
	for i, m := range msgs {
		if m.bad != "" {
			bad(i, m, "%s", m.bad)
			continue
		}
		if m.Seq != uint64(i+1) {
			bad(i, m, "seq %d, want %d (strictly 1, 2, 3… without gaps)", m.Seq, i+1)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Time); err != nil {
			bad(i, m, "time %q is not RFC 3339: %v", m.Time, err)
		}
		if !wsTypes[m.Type] {
			bad(i, m, "type %q is not one the brief allows", m.Type)
		}
		for _, never := range wsNeverSent {
			if bytes.Contains(m.raw, []byte(never)) {
				bad(i, m, "mentions %q, which is never sent", never)
			}
		}
		if wsCampaignTypes[m.Type] && m.CampaignID == nil {
			bad(i, m, "a %s without campaign_id", m.Type)
		}
		if d := bytes.TrimSpace(m.Data); len(d) == 0 || d[0] != '{' {
			bad(i, m, "data is not a JSON object")
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Sprintf("… and %d more", len(errs)-10))
	}
	if len(errs) > 0 {
		t.Errorf("%s: %d messages, not as the brief says:\n\t%s", who, len(msgs), strings.Join(errs, "\n\t"))
	}
}

// wsProgress is the data of a campaign_progress event, and the totals of a
// campaign_completed.
type wsProgress struct {
	Status       api.CampaignStatus `json:"status"`
	CurrentPhase *api.Phase         `json:"current_phase"`
	Processed    int64              `json:"processed"`
	Total        int64              `json:"total"`
	Percent      float64            `json:"percent"`
	TotalDomains int64              `json:"total_domains"`
	Generated    int64              `json:"generated"`
	Overall      api.PhaseCounts    `json:"overall"`
	Dns          api.PhaseCounts    `json:"dns"`
	Http         api.PhaseCounts    `json:"http"`
	Analysis     api.PhaseCounts    `json:"analysis"`
	Leads        int64              `json:"leads"`
}

// progressOfSummary is what a progress event must say of a campaign whose
// REST status summary is sum.
func progressOfSummary(sum api.StatusSummary) wsProgress {
	return wsProgress{Status: sum.Status, CurrentPhase: sum.CurrentPhase, Processed: sum.Progress.Processed, Total: sum.Progress.Total,
		Percent: sum.Progress.Percent, TotalDomains: sum.TotalDomains, Generated: sum.Generated, Overall: sum.Overall,
		Dns: sum.Dns, Http: sum.Http, Analysis: sum.Analysis, Leads: sum.Leads}
}

func decodeData[T any](t *testing.T, m wsMsg) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Errorf("data of %s does not decode: %v", m, err)
	}
	return v
}

type wsTransition struct {
	From *string `json:"from"`
	To   string  `json:"to"`
}

type wsCompleted struct {
	Status          string      `json:"status"`
	Totals          *wsProgress `json:"totals"`
	DurationSeconds *float64    `json:"duration_seconds"`
}

// checkCampaignEvents checks the events about one campaign that a client
// connected before it was started received up to its campaign_completed
// (the last of msgs): phase transitions generation, dns, http, analysis in
// that order; progress that never goes back, consistent with the phase it
// follows, at 100% just before the completion; and one campaign_completed,
// status completed, with the totals of the REST summary. Progress out of
// order is reported with orderErr (t.Errorf unless a test collects it).
func checkCampaignEvents(t *testing.T, who string, msgs []wsMsg, id uuid.UUID, sum api.StatusSummary, orderErr func(string, ...any)) {
	t.Helper()
	var about []wsMsg
	for _, m := range msgs {
		if m.about(id) {
			about = append(about, m)
		}
	}
	if len(about) == 0 || about[len(about)-1].Type != "campaign_completed" {
		t.Fatalf("%s: the events about campaign %s do not end with campaign_completed: %d events", who, id, len(about))
	}

	var transitions []string
	var phase *string // the phase the last transition moved to
	var lastProgress *wsProgress
	progressCount, completions := 0, 0
	for _, m := range about {
		switch m.Type {
		case "phase_transition":
			tr := decodeData[wsTransition](t, m)
			from := "null"
			if tr.From != nil {
				from = *tr.From
			}
			transitions = append(transitions, from+"→"+tr.To)
			to := tr.To
			phase = &to
		case "campaign_progress":
			p := decodeData[wsProgress](t, m)
			progressCount++
			if lastProgress != nil && (p.Percent < lastProgress.Percent || p.Processed < lastProgress.Processed) {
				orderErr("%s: progress went back: %.2f%% (%d processed), then %s", who, lastProgress.Percent, lastProgress.Processed, m)
			}
			got := "null"
			if p.CurrentPhase != nil {
				got = string(*p.CurrentPhase)
			}
			want := "null"
			if phase != nil {
				want = *phase
			}
			if got != want {
				orderErr("%s: a campaign_progress says phase %s after the phase_transition to %s: %s", who, got, want, m)
			}
			lastProgress = &p
		case "campaign_completed":
			completions++
		}
	}
	want := []string{"null→generation", "generation→dns", "dns→http", "http→analysis"}
	if !slices.Equal(transitions, want) {
		t.Errorf("%s: phase transitions %q, want %q", who, transitions, want)
	}
	if completions != 1 {
		t.Errorf("%s: %d campaign_completed events, want 1", who, completions)
	}
	final := progressOfSummary(sum)
	if lastProgress == nil {
		t.Errorf("%s: no campaign_progress at all", who)
	} else if lastProgress.Percent != 100 || lastProgress.Status != api.CampaignStatusCompleted || mustJSON(*lastProgress) != mustJSON(final) {
		orderErr("%s: the last progress before campaign_completed is\n\t%s\n\twant (the REST summary)\n\t%s", who, mustJSON(*lastProgress), mustJSON(final))
	}
	done := about[len(about)-1]
	c := decodeData[wsCompleted](t, done)
	if c.Status != string(api.CampaignStatusCompleted) {
		t.Errorf("%s: campaign_completed has status %q, want completed: %s", who, c.Status, done)
	}
	if c.Totals == nil || mustJSON(*c.Totals) != mustJSON(final) {
		t.Errorf("%s: campaign_completed totals\n\t%s\n\twant (GET …/domains/status)\n\t%s", who, done.Data, mustJSON(final))
	}
	if c.DurationSeconds == nil || *c.DurationSeconds < 0 {
		t.Errorf("%s: campaign_completed has no duration_seconds ≥ 0: %s", who, done)
	}
	t.Logf("%s: %d events about the campaign: %d campaign_progress, transitions %q", who, len(about), progressCount, transitions)
}

// markProxy creates a proxy for the user and waits until c receives its
// proxy_list_update. That event goes the way every event goes (through the
// bus to each of the user's connections, one queue per connection), so
// whatever was published before it and was going to reach c has reached c.
// It returns the messages c received before the marker.
func (u *apiUser) markProxy(ctx context.Context, t *testing.T, c *wsClient) []wsMsg {
	t.Helper()
	r, err := u.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "marker", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 9})
	mustStatus(t, "create a marker proxy", r, err, 201)
	id := r.JSON201.Id.String()
	m := c.waitFor(t, "the marker proxy's proxy_list_update", 10*time.Second, func(m wsMsg) bool {
		return m.Type == "proxy_list_update" && bytes.Contains(m.Data, []byte(id))
	})
	msgs := c.upTo(m)
	return msgs[:len(msgs)-1]
}

// TestRealtimeCampaignEvents follows one campaign from its owner's
// connection: its events arrive whole and in order, and another user's
// connection gets nothing of it.
func TestRealtimeCampaignEvents(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		gen := prefixGen("live", "abcdefgh", 3, []string{".test", ".example"}, 1024)
		rules, wants := uniformPlan(namesOf(t, gen), 16)
		dnsSrv := startDNS(t, 0, ruleOf(rules))
		web := startWeb(t, htmlPage(200, "Shop", "widgets"))

		aliceWS := alice.connectWS(ctx, t, s)
		bobWS := bob.connectWS(ctx, t, s)
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "live events", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(50)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000), Concurrency: ptr(20)},
		})
		mustStatus(t, "create and start a campaign", cr, err, 201)
		id := cr.JSON201.Id
		started := time.Now()
		done := aliceWS.waitFor(t, "campaign_completed", 60*time.Second, func(m wsMsg) bool { return m.Type == "campaign_completed" && m.about(id) })
		t.Logf("campaign_completed arrived %v after the start", time.Since(started).Round(time.Millisecond))
		sum := alice.summary(ctx, t, id)
		checkSummary(t, "the campaign", sum, tallyOf(wants))

		msgs := aliceWS.upTo(done)
		checkEnvelopes(t, "alice's connection", msgs)
		for _, m := range aliceWS.live(msgs) {
			if !m.about(id) {
				t.Errorf("alice's message %d is not about her campaign (campaign_id %v): %s", m.Seq, m.CampaignID, m)
			}
		}
		checkCampaignEvents(t, "alice's connection", msgs, id, sum, t.Errorf)

		// Bob was connected the whole time and has no campaign: nothing at
		// all reaches him, least of all alice's campaign, up to an event
		// of his own published after hers had all arrived.
		for _, m := range bobWS.live(bob.markProxy(ctx, t, bobWS)) {
			if bytes.Contains(m.raw, []byte(id.String())) {
				t.Errorf("bob received an event about alice's campaign: %s", m)
			} else {
				t.Errorf("bob, who has no campaign or proxy, received: %s", m)
			}
		}
		checkEnvelopes(t, "bob's connection", bobWS.all())
	})
}

// TestRealtimeVolume runs a campaign of 5,000 names and counts what its
// owner's connection receives: coalesced progress, not one message per
// domain, and never the per-domain types.
func TestRealtimeVolume(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		const total = 5000
		gen := prefixGen("vol", "abcdefghijklmnopqrst", 3, []string{".test", ".example"}, total)
		names := namesOf(t, gen)
		if len(names) != total {
			t.Fatalf("the generation config yields %d names, want %d", len(names), total)
		}
		rules, wants := uniformPlan(names, 50)
		dnsSrv := startDNS(t, 0, ruleOf(rules))
		web := startWeb(t, htmlPage(200, "Shop", "widgets"))

		ws := alice.connectWS(ctx, t, s)
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "volume", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(100)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000), Concurrency: ptr(20)},
		})
		mustStatus(t, "create and start a campaign of 5,000 names", cr, err, 201)
		id := cr.JSON201.Id
		started := time.Now()
		done := ws.waitFor(t, "campaign_completed", 90*time.Second, func(m wsMsg) bool { return m.Type == "campaign_completed" && m.about(id) })
		took := time.Since(started)
		sum := alice.summary(ctx, t, id)
		checkSummary(t, "the campaign of 5,000 names", sum, tallyOf(wants))

		msgs := ws.upTo(done)
		checkEnvelopes(t, "alice's connection", msgs)
		checkCampaignEvents(t, "alice's connection", msgs, id, sum, t.Errorf)

		byType := map[string]int{}
		var progress []wsMsg
		for _, m := range msgs {
			byType[m.Type]++
			if m.Type == "campaign_progress" && m.about(id) {
				progress = append(progress, m)
			}
		}
		t.Logf("a campaign of %d domains (%d HTTP fetches) ran %v; the client received %d messages (%.2f%% of the domains): %v",
			total, total/50, took.Round(time.Millisecond), len(msgs), 100*float64(len(msgs))/total, byType)
		if limit := total * 5 / 100; len(msgs) >= limit {
			t.Errorf("the client received %d messages for a campaign of %d domains; want fewer than %d (5%%)", len(msgs), total, limit)
		}
		// Progress is coalesced to at most 4 a second per campaign, plus
		// one flushed ahead of each phase_transition and of the completion.
		if len(progress) > 1 {
			span := progress[len(progress)-1].at.Sub(progress[0].at).Seconds()
			if limit := int(4*span) + 1 + 5 + 2; len(progress) > limit {
				t.Errorf("%d campaign_progress messages in %.1fs; want at most %d (4 a second, and one before each transition)", len(progress), span, limit)
			}
		}
	})
}

// TestRealtimeStateOnConnect connects while a campaign runs: the first
// message is that campaign's progress, status running.
func TestRealtimeStateOnConnect(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		cr, err := alice.api().CreateCampaignWithResponse(ctx, bigNXCreate("slow", "slow", dnsSrv.Addr, 200)) // 10s of DNS
		mustStatus(t, "create a slow campaign", cr, err, 201)
		id := cr.JSON201.Id
		draft, err := alice.api().CreateCampaignWithResponse(ctx, bigNXCreate("never started", "draft", dnsSrv.Addr, 200))
		mustStatus(t, "create a draft campaign", draft, err, 201)
		st, err := alice.api().StartCampaignWithResponse(ctx, id)
		mustStatus(t, "start", st, err, 200)
		alice.waitFor(ctx, t, id, 30*time.Second, "running", func(s api.StatusSummary) bool { return s.Status == api.CampaignStatusRunning })

		ws := alice.dialWS(ctx, t, s)
		bobWS := bob.dialWS(ctx, t, s)
		first, ok := ws.next(10 * time.Second)
		if !ok {
			t.Fatalf("no message within 10s of connecting while a campaign runs")
		}
		if first.Type != "campaign_progress" || !first.about(id) || first.Seq != 1 {
			t.Fatalf("the first message on a new connection is %s; want the running campaign's campaign_progress (seq 1)", first)
		}
		p := decodeData[wsProgress](t, first)
		if p.Status != api.CampaignStatusRunning || p.TotalDomains != 2000 || p.CurrentPhase == nil {
			t.Errorf("the first message says status %q, phase %v, total_domains %d; want running, a phase, 2000: %s",
				p.Status, deref(p.CurrentPhase), p.TotalDomains, first)
		}
		cc, err := alice.api().CancelCampaignWithResponse(ctx, id)
		mustStatus(t, "cancel the slow campaign", cc, err, 200)
		done := ws.waitFor(t, "campaign_completed (cancelled)", 10*time.Second, func(m wsMsg) bool {
			return m.Type == "campaign_completed" && m.about(id) && decodeData[wsCompleted](t, m).Status == string(api.CampaignStatusCancelled)
		})
		// Nothing of the draft campaign came (it is not active) while the
		// other ran and until it ended, nor anything to bob (whose
		// connection starts with nothing) up to an event of his own.
		msgs := ws.upTo(done)
		for _, m := range msgs {
			if m.about(draft.JSON201.Id) {
				t.Errorf("%s: a message about the draft campaign: %s", ws.name, m)
			}
		}
		checkEnvelopes(t, "alice's connection", msgs)
		answer := bobWS.subscribe(ctx, t, uuid.Nil) // once the connection is served
		for _, m := range bob.markProxy(ctx, t, bobWS) {
			if m.Seq != answer.Seq {
				t.Errorf("bob, who has no campaign, received: %s", m)
			}
		}
	})
}

// TestRealtimeSubscribe checks subscribe: another user's campaign is
// answered exactly like a campaign that does not exist, and subscribing to
// one's own campaign stops the events of the others.
func TestRealtimeSubscribe(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })

		bobs, err := bob.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "bob's secret", Generation: prefixGen("bob", "ab", 2, []string{".test"}, 4)})
		mustStatus(t, "bob creates a campaign", bobs, err, 201)

		// Two campaigns of alice's, about 10s of DNS each.
		create := func(name, constant string) uuid.UUID {
			t.Helper()
			body := bigNXCreate(name, constant, dnsSrv.Addr, 400)
			body.Generation = prefixGen(constant, "abcdefghijklmnopqrst", 3, []string{".test", ".example"}, 4000)
			body.AutoStart = ptr(true)
			r, err := alice.api().CreateCampaignWithResponse(ctx, body)
			mustStatus(t, "create "+name, r, err, 201)
			return r.JSON201.Id
		}
		ws := alice.connectWS(ctx, t, s)
		a, b := create("A", "camp"), create("B", "bcamp")
		t.Cleanup(func() {
			for _, id := range []uuid.UUID{a, b} {
				alice.api().CancelCampaignWithResponse(context.Background(), id)
			}
		})

		// Someone else's campaign and a campaign that never was: the same
		// error, word for word.
		theirs := ws.subscribe(ctx, t, bobs.JSON201.Id)
		missing := ws.subscribe(ctx, t, uuid.New())
		strip := func(m wsMsg) string {
			var v map[string]any
			if err := json.Unmarshal(m.raw, &v); err != nil {
				return string(m.raw)
			}
			delete(v, "seq")
			delete(v, "time")
			return mustJSON(v)
		}
		if theirs.Type != "error" {
			t.Errorf("subscribe to bob's campaign answered %s; want an error event", theirs)
		}
		if strip(theirs) != strip(missing) {
			t.Errorf("subscribe to another user's campaign and to a random id are answered differently:\n\t%s\n\t%s", theirs, missing)
		}
		if bytes.Contains(theirs.raw, []byte(bobs.JSON201.Id.String())) || bytes.Contains(theirs.raw, []byte("secret")) {
			t.Errorf("the error tells something of bob's campaign: %s", theirs)
		}
		t.Logf("subscribe to someone else's campaign: %s", theirs)

		// Before narrowing, both campaigns' events arrive.
		ws.waitFor(t, "an event of campaign B", 20*time.Second, func(m wsMsg) bool { return m.about(b) && m.Type == "campaign_progress" })
		ws.waitFor(t, "an event of campaign A", 20*time.Second, func(m wsMsg) bool { return m.about(a) && m.Type == "campaign_progress" })

		// A second connection of alice's, not narrowed, sees what the
		// narrowed one would get but for the narrowing.
		wide := alice.connectWS(ctx, t, s)
		reply := ws.subscribe(ctx, t, a)
		if reply.Type != "campaign_progress" || !reply.about(a) {
			t.Fatalf("subscribe to alice's own campaign answered %s; want its campaign_progress", reply)
		}
		// Narrowed: events of A go on arriving, none of B, while B moves
		// on. B has moved once the wide connection has had two progress
		// events of B past the state it had after the subscribe was
		// answered (so published after the narrowing), and the narrowed
		// connection an event of A; then an event published after all
		// that (a proxy's, which no narrowing holds back) closes the span.
		before := alice.summary(ctx, t, b)
		var movedB int
		wide.waitFor(t, "two progress events of campaign B after the narrowing", 20*time.Second, func(m wsMsg) bool {
			if m.Type == "campaign_progress" && m.about(b) && decodeData[wsProgress](t, m).Processed > before.Progress.Processed {
				movedB++
			}
			return movedB == 2
		})
		ws.waitFor(t, "an event of campaign A after subscribing to it", 20*time.Second, func(m wsMsg) bool { return m.about(a) })
		var ofA int
		for _, m := range alice.markProxy(ctx, t, ws) {
			if m.Seq <= reply.Seq {
				continue
			}
			if m.about(a) {
				ofA++
			}
			if m.about(b) {
				t.Errorf("%s: an event of campaign B after subscribing to A: %s", ws.name, m)
			}
		}
		after := alice.summary(ctx, t, b)
		if after.Progress.Processed == before.Progress.Processed {
			t.Errorf("campaign B did not move while the connection was narrowed to A (%d processed, status %s): the check proves nothing",
				after.Progress.Processed, after.Status)
		}
		if ofA == 0 {
			t.Errorf("no event of campaign A arrived after subscribing to it")
		}
		t.Logf("narrowed to A: %d events of A, none of B, while B went from %d to %d processed", ofA, before.Progress.Processed, after.Progress.Processed)

		// unsubscribe widens it again.
		ws.send(ctx, t, map[string]any{"type": "unsubscribe"})
		if after.Status == api.CampaignStatusRunning {
			ws.waitFor(t, "an event of campaign B after unsubscribe", 10*time.Second, func(m wsMsg) bool { return m.about(b) })
		}
		checkEnvelopes(t, "alice's connection", ws.all())
	})
}

// TestRealtimeProxyListUpdate creates, updates and deletes a proxy through
// the API: its owner's connection hears of each, another user's of none.
func TestRealtimeProxyListUpdate(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		ws := alice.connectWS(ctx, t, s)
		bobWS := bob.connectWS(ctx, t, s)
		cl := alice.api()

		type update struct {
			Action  string    `json:"action"`
			ProxyID uuid.UUID `json:"proxy_id"`
		}
		expect := func(action string, id uuid.UUID) {
			t.Helper()
			m := ws.waitFor(t, "proxy_list_update ("+action+")", 10*time.Second, func(m wsMsg) bool { return m.Type == "proxy_list_update" })
			if u := decodeData[update](t, m); u.Action != action || u.ProxyID != id {
				t.Errorf("after the proxy was %s: %s; want action %q, proxy_id %s", action, m, action, id)
			}
		}
		cr, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "p1", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 9})
		mustStatus(t, "create a proxy", cr, err, 201)
		id := cr.JSON201.Id
		expect("created", id)
		ur, err := cl.UpdateProxyWithResponse(ctx, id, api.ProxyUpdate{Name: ptr("p1 renamed")})
		mustStatus(t, "update the proxy", ur, err, 200)
		expect("updated", id)
		dr, err := cl.DeleteProxyWithResponse(ctx, id)
		mustStatus(t, "delete the proxy", dr, err, 204)
		expect("deleted", id)

		// Up to an event published after those three: every message alice
		// got is well formed, and nothing of hers went to bob.
		checkEnvelopes(t, "alice's connection", alice.markProxy(ctx, t, ws))
		for _, m := range bobWS.live(bob.markProxy(ctx, t, bobWS)) {
			t.Errorf("bob received an event of alice's proxies: %s", m)
		}
	})
}

// TestWebSocketAuth checks the handshake: the access_token query parameter
// works, a missing or bad token is a 401 before any upgrade, a foreign
// Origin a 403 unless --allowed-origins matches it.
func TestWebSocketAuth(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, d, "--allowed-origins", "*.example.com, app.example.org")
			ctx := testCtx(t)
			alice := s.newUser(t, "alice")
			cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "mine", Generation: prefixGen("mine", "ab", 2, []string{".test"}, 4)})
			mustStatus(t, "create a campaign", cr, err, 201)
			mine := cr.JSON201.Id

			// works checks that a connection is alice's: subscribing to her
			// campaign answers its progress.
			works := func(what string, c *websocket.Conn) {
				t.Helper()
				ws := startWSClient(t, what, c)
				if m := ws.subscribe(ctx, t, mine); m.Type != "campaign_progress" {
					t.Errorf("%s: subscribe to alice's campaign answered %s; want its campaign_progress", what, m)
				}
				c.Close(websocket.StatusNormalClosure, "")
			}
			refused := func(what string, status int, u string, headers ...string) {
				t.Helper()
				c, got, body, err := dialWS(ctx, u, headers...)
				if err == nil {
					c.CloseNow()
					t.Errorf("%s: the handshake succeeded; want HTTP %d", what, status)
					return
				}
				if got != status {
					t.Errorf("%s: HTTP %d (%v), want %d; body %s", what, got, err, status, body)
				}
				if status == http.StatusUnauthorized && !bytes.Contains(body, []byte("unauthorized")) {
					t.Errorf("%s: the 401 is not a problem with code unauthorized: %s", what, body)
				}
			}

			// access_token in the query, no header.
			c, status, body, err := dialWS(ctx, wsURL(s, "access_token="+url.QueryEscape(alice.Token)))
			if err != nil {
				t.Fatalf("handshake with ?access_token=: %v (HTTP %d, %s)", err, status, body)
			}
			works("?access_token=", c)

			refused("no token", http.StatusUnauthorized, wsURL(s, ""))
			refused("a wrong access_token", http.StatusUnauthorized, wsURL(s, "access_token=not-a-token"))
			refused("a wrong bearer token", http.StatusUnauthorized, wsURL(s, ""), "Authorization", "Bearer not-a-token")
			refused("a Basic Authorization header", http.StatusUnauthorized, wsURL(s, ""), "Authorization", "Basic YWxpY2U6cHc=")
			// A plain GET without the upgrade is refused the same way: the
			// 401 comes before anything else.
			if r := rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/ws", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET /api/v1/ws without a token and without upgrade: HTTP %d, want 401", r.Status)
			}

			auth := []string{"Authorization", "Bearer " + alice.Token}
			refused("an Origin not allowed", http.StatusForbidden, wsURL(s, ""), append(auth, "Origin", "https://evil.invalid")...)
			refused("an Origin like an allowed one", http.StatusForbidden, wsURL(s, ""), append(auth, "Origin", "https://example.com.evil.invalid")...)
			for _, origin := range []string{"https://app.example.com", "https://x.example.com", "https://app.example.org", s.BaseURL} {
				c, status, body, err := dialWS(ctx, wsURL(s, ""), append(auth, "Origin", origin)...)
				if err != nil {
					t.Errorf("Origin %s (allowed by --allowed-origins or the server's own): %v (HTTP %d, %s)", origin, err, status, body)
					continue
				}
				works("Origin "+origin, c)
			}
		})
	}
}

// TestWebSocketDefaultOrigins checks that without --allowed-origins only the
// server's own origin (and clients sending none) may connect.
func TestWebSocketDefaultOrigins(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		for _, origin := range []string{"https://app.example.com", "http://localhost:3000"} {
			c, status, _, err := dialWS(ctx, wsURL(s, ""), "Authorization", "Bearer "+alice.Token, "Origin", origin)
			if err == nil {
				c.CloseNow()
				t.Errorf("Origin %s was accepted without --allowed-origins", origin)
			} else if status != http.StatusForbidden {
				t.Errorf("Origin %s: HTTP %d (%v), want 403", origin, status, err)
			}
		}
		c, status, body, err := dialWS(ctx, wsURL(s, ""), "Authorization", "Bearer "+alice.Token, "Origin", s.BaseURL)
		if err != nil {
			t.Fatalf("the server's own origin: %v (HTTP %d, %s)", err, status, body)
		}
		c.CloseNow()
	})
}

// TestWebSocketGracefulShutdown sends SIGTERM to the server: a connected
// client sees its connection closed with 1001 (going away), and the server
// exits 0.
func TestWebSocketGracefulShutdown(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		ws := alice.connectWS(ctx, t, s)
		// The connection is up and served.
		if m := ws.subscribe(ctx, t, uuid.New()); m.Type != "error" {
			t.Fatalf("subscribe to a random id answered %s; want an error", m)
		}
		stopped := time.Now()
		s.stop(t)
		code, err := ws.closed(t, 5*time.Second)
		if code != websocket.StatusGoingAway {
			t.Errorf("on SIGTERM the client's connection ended with %v (status %d); want a close frame with 1001 (going away)", err, code)
		}
		t.Logf("SIGTERM to exit: %v; the client saw: %v", time.Since(stopped).Round(time.Millisecond), err)
	})
}

// TestRealtimeCrossInstance runs two instances on one PostgreSQL database:
// a client of one hears of a campaign created and started through the
// other, and of its proxies.
func TestRealtimeCrossInstance(t *testing.T) {
	t.Parallel()
	takeFirst(t, store.Postgres, 2)
	a := startServer(t, store.Postgres, engineFlags...)
	b := a.peer(t, engineFlags...)
	ctx := testCtx(t)
	alice := a.newUser(t, "alice")
	gen := prefixGen("cross", "abcdefgh", 3, []string{".test", ".example"}, 1024)
	rules, wants := uniformPlan(namesOf(t, gen), 16)
	dnsSrv := startDNS(t, 0, ruleOf(rules))
	web := startWeb(t, htmlPage(200, "Shop", "widgets"))

	onB := alice.connectWS(ctx, t, b)
	onA := alice.connectWS(ctx, t, a)
	cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
		Name: "across instances", Generation: gen,
		// About 1.5s of DNS: the start's progress is long out before the end.
		Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(50), RateLimitQps: ptr(700)},
		Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000), Concurrency: ptr(20)},
	})
	mustStatus(t, "create a campaign through instance A", cr, err, 201)
	id := cr.JSON201.Id
	st, err := alice.api().StartCampaignWithResponse(ctx, id)
	mustStatus(t, "start it through instance A", st, err, 200)

	isDone := func(m wsMsg) bool { return m.Type == "campaign_completed" && m.about(id) }
	doneB := onB.waitFor(t, "campaign_completed on instance B", 60*time.Second, isDone)
	doneA := onA.waitFor(t, "campaign_completed on instance A", 10*time.Second, isDone)
	sum := alice.summary(ctx, t, id)
	checkSummary(t, "the campaign", sum, tallyOf(wants))
	msgsB, msgsA := onB.upTo(doneB), onA.upTo(doneA)
	checkEnvelopes(t, "the connection to B", msgsB)
	var outOfOrder []string
	checkCampaignEvents(t, "the connection to B", msgsB, id, sum, func(format string, args ...any) {
		outOfOrder = append(outOfOrder, fmt.Sprintf(format, args...))
	})
	// Progress reaches B by two paths (A's API handler, the engine's
	// instance); the hub drops a state older than one already sent.
	if len(outOfOrder) > 0 {
		t.Errorf("campaign events out of order on B: %s", strings.Join(outOfOrder, "; "))
	}
	checkEnvelopes(t, "the connection to A", msgsA)
	// Both instances' clients see the same events in the same order.
	strip := func(msgs []wsMsg) []string {
		var out []string
		for _, m := range msgs {
			out = append(out, fmt.Sprintf("%s %v %s %s", m.Type, deref(m.CampaignID), m.Time, m.Data))
		}
		return out
	}
	if sa, sb := strip(onA.live(msgsA)), strip(onB.live(msgsB)); !slices.Equal(sa, sb) {
		t.Errorf("the clients of A and B received different events:\n\tA: %d: %q\n\tB: %d: %q", len(sa), sa, len(sb), sb)
	}

	// A proxy created through A is news on B.
	pr, err := alice.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "p", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 9})
	mustStatus(t, "create a proxy through A", pr, err, 201)
	m := onB.waitFor(t, "proxy_list_update on B", 10*time.Second, func(m wsMsg) bool { return m.Type == "proxy_list_update" })
	if !bytes.Contains(m.Data, []byte(pr.JSON201.Id.String())) {
		t.Errorf("proxy_list_update on B does not name the new proxy %s: %s", pr.JSON201.Id, m)
	}
	checkEnvelopes(t, "the connection to B", onB.all())
}
