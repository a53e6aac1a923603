package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store"
)

// tokenShape is what every new token looks like, so that secret scanners
// can find a leaked one.
var tokenShape = regexp.MustCompile(`^dfl_[0-9A-Za-z]{43}$`)

// revocationBound is how soon every instance refuses a revoked token.
const revocationBound = time.Second

// cli runs a domainflow command on the server's database and returns its
// stdout and stderr; err is its exit error.
func (s *testServer) cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, append(args, "--database-url", s.DBURL)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// as is the user with another of their tokens.
func (u *apiUser) as(token string) *apiUser {
	c := *u
	c.Token = token
	return &c
}

// createToken makes a token through the API and checks the answer.
func (u *apiUser) createToken(ctx context.Context, t *testing.T, body api.TokenCreate) *api.TokenCreated {
	t.Helper()
	r, err := u.api().CreateTokenWithResponse(ctx, body)
	mustStatus(t, "create token "+body.Name, r, err, 201)
	tk := r.JSON201
	if !tokenShape.MatchString(tk.Token) {
		t.Errorf("new token %q: want dfl_ and 43 letters and digits", tk.Token)
	}
	if tk.Name != body.Name || tk.Hint != "dfl_…"+tk.Token[len(tk.Token)-4:] {
		t.Errorf("new token %+v: want name %q and the hint dfl_… and its last four characters", tk, body.Name)
	}
	if cc := r.HTTPResponse.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create token: Cache-Control %q; want no-store (the answer holds a secret)", cc)
	}
	return tk
}

// status is the status of GET /api/v1/tokens with the token.
func (u *apiUser) status(ctx context.Context, t *testing.T) int {
	t.Helper()
	r, err := u.api().ListTokensWithResponse(ctx)
	if err != nil {
		t.Fatalf("list tokens: %v", err)
	}
	return r.StatusCode()
}

func (u *apiUser) listTokens(ctx context.Context, t *testing.T) (map[uuid.UUID]api.Token, []byte) {
	t.Helper()
	r, err := u.api().ListTokensWithResponse(ctx)
	mustStatus(t, "list tokens", r, err, 200)
	m := map[uuid.UUID]api.Token{}
	for _, tk := range r.JSON200.Items {
		m[tk.Id] = tk
	}
	return m, r.Body
}

func TestTokenLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "bob")
		if !tokenShape.MatchString(alice.Token) {
			t.Errorf("token create printed %q; want dfl_ and 43 letters and digits", alice.Token)
		}

		start := time.Now()
		ci := alice.createToken(ctx, t, api.TokenCreate{Name: "ci", ExpiresIn: ptr(int64(3600))})
		if ci.ExpiresAt == nil || ci.ExpiresAt.Sub(ci.CreatedAt) != time.Hour ||
			ci.CreatedAt.Before(start.Add(-time.Second)) || ci.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("token for an hour: created %v, expires %v; want now and an hour later", ci.CreatedAt, ci.ExpiresAt)
		}
		forever := alice.createToken(ctx, t, api.TokenCreate{Name: "forever"})
		if forever.ExpiresAt != nil {
			t.Errorf("token without expires_in expires %v; want never", forever.ExpiresAt)
		}

		// Each new token works, and the list says which one asks.
		withCI := alice.as(ci.Token)
		list, body := withCI.listTokens(ctx, t)
		if len(list) != 3 {
			t.Fatalf("alice has %d tokens; want 3 (the CLI's and two): %s", len(list), body)
		}
		for _, secret := range []string{alice.Token, ci.Token, forever.Token} {
			sum := sha256.Sum256([]byte(secret))
			if bytes.Contains(body, []byte(secret)) || bytes.Contains(body, []byte(secret[4:])) ||
				bytes.Contains(body, []byte(hex.EncodeToString(sum[:]))) {
				t.Errorf("the list shows a secret or its hash: %s", body)
			}
		}
		listedCI := list[ci.Id]
		if listedCI.Name != "ci" || listedCI.Hint != ci.Hint || !listedCI.Current || listedCI.LastUsedAt == nil ||
			listedCI.ExpiresAt == nil || !listedCI.ExpiresAt.Equal(*ci.ExpiresAt) || !listedCI.CreatedAt.Equal(ci.CreatedAt) {
			t.Errorf("listed %+v; want ci as created, the current token, just used", listedCI)
		}
		if f := list[forever.Id]; f.Current || f.LastUsedAt != nil || f.ExpiresAt != nil || f.Name != "forever" {
			t.Errorf("listed %+v; want forever, not current, never used, never expiring", f)
		}
		var cliToken api.Token
		for id, tk := range list {
			if id != ci.Id && id != forever.Id {
				cliToken = tk
			}
		}
		if cliToken.Name != "cli" || cliToken.LastUsedAt == nil || cliToken.Hint != "dfl_…"+alice.Token[len(alice.Token)-4:] {
			t.Errorf("the CLI's token listed %+v; want name cli, used (it made the others), its hint", cliToken)
		}

		// Bob sees only his own, and alice's are missing to him.
		bobs, _ := bob.listTokens(ctx, t)
		if len(bobs) != 1 {
			t.Errorf("bob has %d tokens; want 1", len(bobs))
		}
		r, err := bob.api().RevokeTokenWithResponse(ctx, ci.Id)
		checkProblem(t, "bob revokes alice's token", r, err, 404, "not_found")
		r, err = alice.api().RevokeTokenWithResponse(ctx, uuid.New())
		checkProblem(t, "revoke a token that does not exist", r, err, 404, "not_found")
		if st := withCI.status(ctx, t); st != 200 {
			t.Fatalf("alice's ci token after bob's try: %d; want 200", st)
		}
		bad := alice.raw(ctx, t, http.MethodDelete, "/api/v1/tokens/not-a-uuid", nil)
		checkNames(t, "revoke not-a-uuid", checkProblem(t, "revoke not-a-uuid", bad, nil, 400, "invalid"), byParameter, "tokenId")

		// Revoked through this instance: refused from the next request on.
		r, err = alice.api().RevokeTokenWithResponse(ctx, ci.Id)
		mustStatus(t, "revoke ci", r, err, 204)
		if st := withCI.status(ctx, t); st != 401 {
			t.Errorf("the revoked token right after its revocation: %d; want 401", st)
		}
		r, err = alice.api().RevokeTokenWithResponse(ctx, ci.Id)
		checkProblem(t, "revoke ci again", r, err, 404, "not_found")
		list, _ = alice.listTokens(ctx, t)
		if _, ok := list[ci.Id]; ok || len(list) != 2 {
			t.Errorf("alice's tokens after the revocation: %v; want the other two", list)
		}

		// A token may revoke itself.
		withForever := alice.as(forever.Token)
		r, err = withForever.api().RevokeTokenWithResponse(ctx, forever.Id)
		mustStatus(t, "a token revoking itself", r, err, 204)
		p := checkProblem(t, "the token that revoked itself", rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/tokens", nil,
			"Authorization", "Bearer "+forever.Token), nil, 401, "unauthorized")
		if p != nil && p.Detail == nil {
			t.Errorf("401 without detail")
		}
		if st := alice.status(ctx, t); st != 200 {
			t.Errorf("alice's remaining token: %d; want 200", st)
		}
	})
}

func TestTokenCreateRefusesBadInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		for _, tt := range []struct {
			what, body string
			pointers   []string
		}{
			{"no body members", `{}`, []string{"/name"}},
			{"an empty name", `{"name":""}`, []string{"/name"}},
			{"a blank name", `{"name":"   "}`, []string{"/name"}},
			{"a name too long", `{"name":"` + strings.Repeat("n", 201) + `"}`, []string{"/name"}},
			{"59 seconds", `{"name":"x","expires_in":59}`, []string{"/expires_in"}},
			{"0 seconds", `{"name":"x","expires_in":0}`, []string{"/expires_in"}},
			{"a negative expiry", `{"name":"x","expires_in":-60}`, []string{"/expires_in"}},
			{"over ten years", `{"name":"x","expires_in":315360001}`, []string{"/expires_in"}},
			{"a huge expiry", `{"name":"x","expires_in":9223372036854775807}`, []string{"/expires_in"}},
			{"a duration string", `{"name":"x","expires_in":"720h"}`, []string{"/expires_in"}},
			{"a fraction", `{"name":"x","expires_in":60.5}`, []string{"/expires_in"}},
			{"a blank name and a bad expiry", `{"name":" ","expires_in":1}`, []string{"/name", "/expires_in"}},
			{"an unknown member", `{"name":"x","scopes":["all"]}`, []string{"/scopes"}},
		} {
			r := alice.raw(ctx, t, http.MethodPost, "/api/v1/tokens", strings.NewReader(tt.body))
			checkNames(t, tt.what, checkProblem(t, tt.what, r, nil, 400, "invalid"), byPointer, tt.pointers...)
		}
		// The bounds themselves are fine, and nothing was made by the refusals.
		alice.createToken(ctx, t, api.TokenCreate{Name: "a minute", ExpiresIn: ptr(int64(60))})
		alice.createToken(ctx, t, api.TokenCreate{Name: "ten years", ExpiresIn: ptr(int64(315360000))})
		if list, body := alice.listTokens(ctx, t); len(list) != 3 {
			t.Errorf("alice has %d tokens; want 3: %s", len(list), body)
		}
		r := rawRequest(ctx, t, s.BaseURL, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"name":"x"}`), "Content-Type", "application/json")
		checkProblem(t, "create a token without a token", r, nil, 401, "unauthorized")
	})
}

// A token that expires cannot make one that outlives it; one that does not
// expire can make any.
func TestTokenCannotOutliveItsMaker(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		hour := alice.as(alice.createToken(ctx, t, api.TokenCreate{Name: "an hour", ExpiresIn: ptr(int64(3600))}).Token)
		for _, tt := range []struct {
			what string
			body api.TokenCreate
		}{
			{"a token without expiry", api.TokenCreate{Name: "forever"}},
			{"a token for two hours", api.TokenCreate{Name: "two hours", ExpiresIn: ptr(int64(7200))}},
		} {
			r, err := hour.api().CreateTokenWithResponse(ctx, tt.body)
			checkNames(t, tt.what, checkProblem(t, "an hour's token making "+tt.what, r, err, 422, "unprocessable"), byPointer, "/expires_in")
		}
		hour.createToken(ctx, t, api.TokenCreate{Name: "half an hour", ExpiresIn: ptr(int64(1800))})
		if list, body := alice.listTokens(ctx, t); len(list) != 3 {
			t.Errorf("alice has %d tokens; want 3 (the CLI's, an hour, half an hour): %s", len(list), body)
		}
	})
}

// refusedWithin uses u's token on s from now until every request sent at
// least bound after since has been refused, and fails the test if one of
// those was not. It returns how long after since the first refusal was
// sent. A request refused once must stay refused.
func refusedWithin(ctx context.Context, t *testing.T, u *apiUser, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	var first time.Duration = -1
	for {
		sent := time.Now()
		st := u.status(ctx, t)
		late := sent.Sub(since) >= bound
		switch {
		case st == 401 && first < 0:
			first = sent.Sub(since)
		case st != 401 && first >= 0:
			t.Errorf("request sent %v after the token stopped: %d, after an earlier 401", sent.Sub(since), st)
		case st != 401 && st != 200:
			t.Fatalf("request sent %v after the token stopped: %d", sent.Sub(since), st)
		case st != 401 && late:
			t.Errorf("request sent %v after the token stopped (more than %v): %d; want 401", sent.Sub(since), bound, st)
		}
		if late {
			return first
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A token revoked by another process (the CLI) while the server remembers
// it is refused within a second: the server does not wait for its memory
// of the token to run out.
func TestRevokedTokenRefusedWithinASecond(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		tk := alice.as(alice.createToken(ctx, t, api.TokenCreate{Name: "doomed"}).Token)
		for range 3 {
			if st := tk.status(ctx, t); st != 200 {
				t.Fatalf("the new token: %d", st)
			}
		}
		list, _ := alice.listTokens(ctx, t)
		var id uuid.UUID
		for _, l := range list {
			if l.Name == "doomed" {
				id = l.Id
			}
		}
		if _, stderr, err := s.cli(t, "token", "revoke", "--user", "alice", id.String()); err != nil {
			t.Fatalf("token revoke: %v\n%s", err, stderr)
		}
		revoked := time.Now()
		first := refusedWithin(ctx, t, tk, revoked, revocationBound)
		t.Logf("first refusal sent %v after the CLI's revocation", first)
		if st := alice.status(ctx, t); st != 200 {
			t.Errorf("alice's other token: %d; want 200", st)
		}
	})
}

// Two instances on one PostgreSQL database: a token used on one (so that
// it remembers it) and revoked through the other is refused by the first
// within a second.
func TestRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	takeFirst(t, store.Postgres, 2)
	a := startServer(t, store.Postgres)
	b := a.peer(t)
	ctx := testCtx(t)
	alice := a.newUser(t, "alice")
	created := alice.createToken(ctx, t, api.TokenCreate{Name: "shared"})
	onA, onB := alice.as(created.Token), alice.as(created.Token)
	onB.srv = b
	for range 3 {
		if st := onB.status(ctx, t); st != 200 {
			t.Fatalf("the token on b: %d", st)
		}
	}
	// Used on b right before the revocation: b answers it from memory.
	if st := onB.status(ctx, t); st != 200 {
		t.Fatalf("the token on b: %d", st)
	}
	r, err := onA.api().RevokeTokenWithResponse(ctx, created.Id)
	mustStatus(t, "revoke through a", r, err, 204)
	revoked := time.Now()
	first := refusedWithin(ctx, t, onB, revoked, revocationBound)
	t.Logf("b refused the token revoked through a from %v after the revocation", first)
	if st := onA.status(ctx, t); st != 401 {
		t.Errorf("the token on a, which revoked it: %d; want 401", st)
	}
	// The user's other token still works on both.
	other := alice.as(alice.Token)
	other.srv = b
	if st := other.status(ctx, t); st != 200 {
		t.Errorf("alice's other token on b: %d", st)
	}
}

// An expired token is refused, whether or not the server remembers it. The
// shortest lifetime the API gives is a minute; rather than wait for it, the
// test moves the token's expiry in the database, as time would.
func TestExpiredTokenRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		db := s.DB(t)
		setExpiry := func(id uuid.UUID, at time.Time) {
			t.Helper()
			if err := db.Gorm().Exec("UPDATE api_tokens SET expires_at = ? WHERE id = ?", at.UTC(), id).Error; err != nil {
				t.Fatal(err)
			}
		}

		// Expired before its first use.
		past := alice.createToken(ctx, t, api.TokenCreate{Name: "past", ExpiresIn: ptr(int64(60))})
		setExpiry(past.Id, time.Now().Add(-time.Second))
		p := checkProblem(t, "an expired token", rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/tokens", nil,
			"Authorization", "Bearer "+past.Token), nil, 401, "unauthorized")
		if p != nil && !strings.Contains(deref(p.Detail), "expired") {
			t.Errorf("an expired token: detail %q; want it to say the token expired", deref(p.Detail))
		}

		// Expiring while the server remembers it.
		soon := alice.createToken(ctx, t, api.TokenCreate{Name: "soon", ExpiresIn: ptr(int64(60))})
		expires := time.Now().Add(2 * time.Second)
		setExpiry(soon.Id, expires)
		tk := alice.as(soon.Token)
		if st := tk.status(ctx, t); st != 200 {
			t.Fatalf("the token before its expiry: %d", st)
		}
		time.Sleep(time.Until(expires))
		refusedWithin(ctx, t, tk, expires, 0)

		// Both are still listed, with their expiry, until revoked.
		list, _ := alice.listTokens(ctx, t)
		if l, ok := list[soon.Id]; !ok || l.ExpiresAt == nil || l.ExpiresAt.After(time.Now()) {
			t.Errorf("the expired token listed %+v (%v); want it, expired", l, ok)
		}
	})
}

func TestTokenCLI(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")

		out, stderr, err := s.cli(t, "token", "create", "--user", "alice", "--name", "deploys", "--expires", "720h")
		if err != nil {
			t.Fatalf("token create --name --expires: %v\n%s", err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		secret := lines[len(lines)-1]
		if !tokenShape.MatchString(secret) {
			t.Fatalf("token create: last line %q; want the token\n%s", secret, out)
		}
		tk := alice.as(secret)
		if st := tk.status(ctx, t); st != 200 {
			t.Fatalf("the CLI's token: %d", st)
		}
		listed, _ := tk.listTokens(ctx, t)
		var id uuid.UUID
		for _, l := range listed {
			if l.Current {
				id = l.Id
				if l.Name != "deploys" || l.ExpiresAt == nil || l.ExpiresAt.Sub(l.CreatedAt) != 720*time.Hour {
					t.Errorf("the CLI's token listed %+v; want deploys, expiring in 720h", l)
				}
			}
		}
		if !strings.Contains(out, id.String()) {
			t.Errorf("token create does not name the token's id %v:\n%s", id, out)
		}

		out, stderr, err = s.cli(t, "token", "list", "--user", "alice")
		if err != nil {
			t.Fatalf("token list: %v\n%s", err, stderr)
		}
		var row string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, id.String()) {
				row = l
			}
		}
		if !strings.Contains(row, "deploys") || !strings.Contains(row, "dfl_…"+secret[len(secret)-4:]) ||
			strings.Contains(out, secret[4:]) || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
			t.Errorf("token list: want a header and two tokens, deploys with its hint and never a secret:\n%s", out)
		}

		for _, tt := range []struct {
			what string
			args []string
			want string // in stderr
		}{
			{"an expiry under a minute", []string{"token", "create", "--user", "alice", "--expires", "30s"}, "1 minute"},
			{"an expiry that is no duration", []string{"token", "create", "--user", "alice", "--expires", "soon"}, "duration"},
			{"a blank name", []string{"token", "create", "--user", "alice", "--name", " "}, "name"},
			{"an unknown user's list", []string{"token", "list", "--user", "nobody"}, "nobody"},
			{"another user's token", []string{"token", "revoke", "--user", "bob", id.String()}, "No such token"},
			{"no id", []string{"token", "revoke", "--user", "alice"}, "ID"},
			{"a bad id", []string{"token", "revoke", "--user", "alice", "x"}, "not a token ID"},
			{"a missing token", []string{"token", "revoke", "--user", "alice", uuid.NewString()}, "No such token"},
		} {
			if tt.what == "another user's token" {
				s.newUser(t, "bob")
			}
			_, stderr, err := s.cli(t, tt.args...)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Errorf("%s: exit %v, stderr %q; want a failure mentioning %q", tt.what, err, stderr, tt.want)
			}
		}
		if st := tk.status(ctx, t); st != 200 {
			t.Fatalf("the token after the refused commands: %d", st)
		}

		out, stderr, err = s.cli(t, "token", "revoke", "--user", "alice", id.String())
		if err != nil || !strings.Contains(out, id.String()) {
			t.Fatalf("token revoke: %v\n%s%s", err, out, stderr)
		}
		refusedWithin(ctx, t, tk, time.Now(), revocationBound)
		if out, _, _ := s.cli(t, "token", "list", "--user", "alice"); strings.Contains(out, id.String()) {
			t.Errorf("token list still shows the revoked token:\n%s", out)
		}
	})
}

func (u *apiUser) ticket(ctx context.Context, t *testing.T) api.WebSocketTicket {
	t.Helper()
	r, err := u.api().CreateWebSocketTicketWithResponse(ctx)
	mustStatus(t, "create a WebSocket ticket", r, err, 201)
	if cc := r.HTTPResponse.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("ticket: Cache-Control %q; want no-store", cc)
	}
	return *r.JSON201
}

func ticketURL(s *testServer, ticket string) string {
	return wsURL(s, "ticket="+url.QueryEscape(ticket))
}

func TestWebSocketTicket(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "bob")
		refused := func(what, u string) {
			t.Helper()
			c, status, body, err := dialWS(ctx, u)
			if err == nil {
				c.CloseNow()
				t.Errorf("%s: the handshake succeeded; want 401", what)
				return
			}
			if status != http.StatusUnauthorized || !bytes.Contains(body, []byte("unauthorized")) {
				t.Errorf("%s: HTTP %d (%v) %s; want a 401 problem", what, status, err, body)
			}
		}
		// connect opens a WebSocket with a ticket and checks whose it is:
		// its user's own proxy events reach it, the other user's do not.
		connect := func(what string, tk api.WebSocketTicket, owner, other *apiUser) {
			t.Helper()
			c, status, body, err := dialWS(ctx, ticketURL(s, tk.Ticket))
			if err != nil {
				t.Fatalf("%s: %v (HTTP %d, %s)", what, err, status, body)
			}
			ws := startWSClient(t, what, c)
			if m := ws.subscribe(ctx, t, uuid.Nil); m.Type != "error" {
				t.Fatalf("%s: subscribe answered %s", what, m)
			}
			other.markProxy(ctx, t, other.connectWS(ctx, t, s))
			for _, m := range owner.markProxy(ctx, t, ws) {
				if m.Type == "proxy_list_update" {
					t.Errorf("%s: received %s, an event of %s's", what, m, other.Name)
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
		}

		start := time.Now()
		tk := alice.ticket(ctx, t)
		if tk.ExpiresAt.Before(start.Add(29*time.Second)) || tk.ExpiresAt.After(time.Now().Add(30*time.Second)) {
			t.Errorf("ticket expires %v; want 30 s after it was made (%v)", tk.ExpiresAt, start)
		}
		if tk.Ticket == "" || strings.HasPrefix(tk.Ticket, "dfl_") {
			t.Errorf("ticket %q", tk.Ticket)
		}
		connect("alice's ticket", tk, alice, bob)
		refused("alice's ticket a second time", ticketURL(s, tk.Ticket))
		connect("bob's ticket", bob.ticket(ctx, t), bob, alice)

		refused("a made-up ticket", ticketURL(s, "x"+tk.Ticket[1:]))
		refused("a token as a ticket", ticketURL(s, alice.Token))
		refused("a ticket beside a good access_token", ticketURL(s, "nope")+"&access_token="+url.QueryEscape(alice.Token))
		if r := rawRequest(ctx, t, s.BaseURL, http.MethodPost, "/api/v1/ws/ticket", nil); r.Status != 401 {
			t.Errorf("a ticket without a token: %d; want 401", r.Status)
		}

		// A ticket is no good after its 30 seconds: move its expiry into
		// the past, as time would.
		late := alice.ticket(ctx, t)
		if err := s.DB(t).Gorm().Exec("UPDATE ws_tickets SET expires_at = ?", time.Now().UTC().Add(-time.Millisecond)).Error; err != nil {
			t.Fatal(err)
		}
		refused("an expired ticket", ticketURL(s, late.Ticket))

		// A revoked token's tickets go with it.
		extra := alice.createToken(ctx, t, api.TokenCreate{Name: "short-lived"})
		pending := alice.as(extra.Token).ticket(ctx, t)
		r, err := alice.api().RevokeTokenWithResponse(ctx, extra.Id)
		mustStatus(t, "revoke", r, err, 204)
		refused("the ticket of a revoked token", ticketURL(s, pending.Ticket))
	})
}

// On PostgreSQL, a ticket made through one instance opens the WebSocket on
// another (tickets are in the database), once.
func TestWebSocketTicketAcrossInstances(t *testing.T) {
	t.Parallel()
	takeFirst(t, store.Postgres, 2)
	a := startServer(t, store.Postgres)
	b := a.peer(t)
	ctx := testCtx(t)
	alice := a.newUser(t, "alice")
	tk := alice.ticket(ctx, t)
	c, status, body, err := dialWS(ctx, ticketURL(b, tk.Ticket))
	if err != nil {
		t.Fatalf("a's ticket on b: %v (HTTP %d, %s)", err, status, body)
	}
	c.CloseNow()
	if c, status, _, err := dialWS(ctx, ticketURL(a, tk.Ticket)); err == nil {
		c.CloseNow()
		t.Errorf("the ticket used on b worked again on a")
	} else if status != 401 {
		t.Errorf("the ticket used on b, on a: HTTP %d; want 401", status)
	}
}

// No token or ticket reaches the server's log, however it was sent: as a
// header, in the query of a WebSocket handshake (accepted or refused), in
// a body.
func TestCredentialsNeverLogged(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		made := alice.createToken(ctx, t, api.TokenCreate{Name: "logged?"})
		secrets := []string{alice.Token, made.Token, "dfl_" + strings.Repeat("Z", 43)}

		alice.as(made.Token).status(ctx, t)
		for _, q := range []string{"access_token=" + alice.Token, "access_token=" + secrets[2]} {
			if c, _, _, err := dialWS(ctx, wsURL(s, q)); err == nil {
				c.CloseNow()
			}
		}
		for range 2 { // the second use is refused
			tk := alice.ticket(ctx, t)
			secrets = append(secrets, tk.Ticket)
			for range 2 {
				if c, _, _, err := dialWS(ctx, ticketURL(s, tk.Ticket)); err == nil {
					c.CloseNow()
				}
			}
		}
		rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/campaigns?access_token="+alice.Token+"&ticket="+secrets[3], nil)
		rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/tokens", nil, "Authorization", "Bearer "+secrets[2])
		r, err := alice.api().RevokeTokenWithResponse(ctx, made.Id)
		mustStatus(t, "revoke", r, err, 204)
		alice.as(made.Token).status(ctx, t)
		s.stop(t)

		logs := s.Logs()
		for _, secret := range secrets {
			if strings.Contains(logs, secret) || strings.Contains(logs, secret[len(secret)-20:]) {
				t.Errorf("the log holds a secret (%s…):\n%s", secret[:8], logs)
			}
		}
		if !strings.Contains(logs, "access_token=REDACTED") || !strings.Contains(logs, "ticket=REDACTED") {
			t.Errorf("the log has no redacted query; want the requests' queries with their credentials redacted:\n%s", logs)
		}
	})
}

// A revoked token's WebSockets are closed (1008) within a couple of
// seconds, those opened with it directly and those opened with a ticket it
// made; the user's other connections stay open.
func TestRevokedTokenClosesItsWebSockets(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		made := alice.createToken(ctx, t, api.TokenCreate{Name: "socket"})
		doomed := alice.as(made.Token)
		direct := doomed.connectWS(ctx, t, s)
		c, status, body, err := dialWS(ctx, ticketURL(s, doomed.ticket(ctx, t).Ticket))
		if err != nil {
			t.Fatalf("a ticket of the doomed token: %v (HTTP %d, %s)", err, status, body)
		}
		viaTicket := startWSClient(t, "doomed ticket", c)
		other := alice.connectWS(ctx, t, s)

		r, err := alice.api().RevokeTokenWithResponse(ctx, made.Id)
		mustStatus(t, "revoke the token", r, err, 204)
		for what, ws := range map[string]*wsClient{"opened with the token": direct, "opened with its ticket": viaTicket} {
			if code, _ := ws.closed(t, 5*time.Second); code != websocket.StatusPolicyViolation {
				t.Errorf("the connection %s closed with %v; want 1008", what, code)
			}
		}
		alice.markProxy(ctx, t, other) // still open, still served
	})
}
