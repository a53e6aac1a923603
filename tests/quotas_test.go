package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/gen/client"
)

// quotaFlags are small quotas, so that a test reaches each in a few calls.
var quotaFlags = []string{"--quota-running-campaigns", "2", "--quota-campaign-domains", "1000",
	"--quota-stored-domains", "3000", "--quota-websockets", "3", "--quota-proxies", "2"}

// quotasSet is what /api/v1/me must say of quotaFlags.
var quotasSet = api.Quotas{RunningCampaigns: 2, CampaignDomains: 1000, StoredDomains: 3000, Websockets: 3, Proxies: 2}

// me returns the user as GET /api/v1/me answers, checking who it is and the
// quotas.
func (u *apiUser) me(ctx context.Context, t *testing.T) api.Me {
	t.Helper()
	r, err := u.api().GetMeWithResponse(ctx)
	mustStatus(t, "GET /api/v1/me", r, err, 200)
	if m := r.JSON200; m.Id != u.ID || m.Name != u.Name || m.Quotas != quotasSet {
		t.Errorf("GET /api/v1/me as %s (%s): %s; want quotas %+v", u.Name, u.ID, r.Body, quotasSet)
	}
	return *r.JSON200
}

// checkUsage checks what /api/v1/me says the user uses.
func (u *apiUser) checkUsage(ctx context.Context, t *testing.T, what string, want api.QuotaUsage) {
	t.Helper()
	if got := u.me(ctx, t).Usage; got != want {
		t.Errorf("%s: /api/v1/me usage %+v, want %+v", what, got, want)
	}
}

// campaignCount is how many campaigns the user has.
func (u *apiUser) campaignCount(ctx context.Context, t *testing.T) int64 {
	t.Helper()
	r, err := u.api().ListCampaignsWithResponse(ctx, nil)
	mustStatus(t, "list campaigns", r, err, 200)
	return r.JSON200.Total
}

// campaignState is a campaign's status and ETag: what a refused call must
// leave as it was.
func (u *apiUser) campaignState(ctx context.Context, t *testing.T, id uuid.UUID) string {
	t.Helper()
	r, err := u.api().GetCampaignWithResponse(ctx, id, nil)
	mustStatus(t, "get campaign", r, err, 200)
	return string(r.JSON200.Status) + " " + r.HTTPResponse.Header.Get("ETag")
}

// handshake tries a WebSocket handshake and returns the answer of a refused
// one, or reports that it upgraded (and closes the connection).
func handshake(ctx context.Context, t *testing.T, u string, header http.Header) (rawResponse, bool) {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		c.CloseNow()
		return rawResponse{}, true
	}
	if resp == nil {
		t.Fatalf("WebSocket handshake: no answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, false
}

// TestQuotas runs a server with small quotas and goes past each: the call
// is refused with its status and code and changes nothing, /api/v1/me shows
// the usage moving, and making room (pausing, deleting, closing) lets the
// next call through.
func TestQuotas(t *testing.T) {
	eachDialectWith(t, func(t *testing.T, d string) *testServer {
		return startServer(t, d, append(slices.Clone(engineFlags), quotaFlags...)...)
	}, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		s.DB(t) // opened for the whole test, not its first subtest

		t.Run("campaign and stored domains", func(t *testing.T) {
			u := s.newUser(t, "sizes")
			cl := u.api()
			u.checkUsage(ctx, t, "a new user", api.QuotaUsage{})
			create := func(max int64, tlds ...string) (*client.CreateCampaignResponse, error) {
				return cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: fmt.Sprintf("max %d", max),
					Generation: prefixGen("size", "abcdefghij", 3, tlds, max)})
			}

			// 2,000 names capped at 1,001: one more than a campaign may have.
			r, err := create(1001, ".test", ".example")
			p := checkProblem(t, "a campaign of 1,001 domains", r, err, 422, "quota_campaign_domains")
			checkNames(t, "a campaign of 1,001 domains", p, byPointer, "/generation/max_domains")
			if n := u.campaignCount(ctx, t); n != 0 {
				t.Errorf("the refused campaign was created: %d campaigns", n)
			}
			// total_domains is max_domains capped by the pattern: 1,000 names.
			r, err = create(100_000, ".test")
			mustStatus(t, "a campaign of 1,000 names with max_domains 100,000", r, err, 201)
			if r.JSON201.TotalDomains != 1000 {
				t.Errorf("total_domains %d, want 1000", r.JSON201.TotalDomains)
			}
			u.checkUsage(ctx, t, "one campaign", api.QuotaUsage{StoredDomains: 1000})

			r, err = create(1000, ".test", ".example")
			mustStatus(t, "a second campaign of 1,000", r, err, 201)
			r, err = create(1000, ".test", ".example")
			mustStatus(t, "a third campaign of 1,000", r, err, 201)
			third := r.JSON201.Id
			u.checkUsage(ctx, t, "3,000 domains", api.QuotaUsage{StoredDomains: 3000})
			r, err = create(1, ".test")
			checkProblem(t, "one domain past 3,000 stored", r, err, 429, "quota_stored_domains")
			if r != nil && r.HTTPResponse.Header.Get("Retry-After") != "" {
				t.Errorf("a quota's 429 has Retry-After %q: waiting does not make room", r.HTTPResponse.Header.Get("Retry-After"))
			}
			if n := u.campaignCount(ctx, t); n != 3 {
				t.Errorf("the refused campaign was created: %d campaigns, want 3", n)
			}
			u.checkUsage(ctx, t, "after the refused create", api.QuotaUsage{StoredDomains: 3000})

			// A deleted campaign makes room.
			dr, err := cl.DeleteCampaignWithResponse(ctx, third)
			mustStatus(t, "delete a campaign", dr, err, 204)
			u.checkUsage(ctx, t, "after a delete", api.QuotaUsage{StoredDomains: 2000})
			r, err = create(1000, ".test", ".example")
			mustStatus(t, "a campaign of 1,000 in the room the delete made", r, err, 201)
		})

		t.Run("running campaigns", func(t *testing.T) {
			u, other := s.newUser(t, "runner"), s.newUser(t, "other runner")
			cl := u.api()
			// One name a second: these campaigns run far longer than the test.
			// One check at a time, so that a check (its tries and its wait
			// for the rate limit: 3 s) fits the servers' 4 s job timeout —
			// or the campaigns would fail, stop counting as running, and
			// the quota would prove nothing.
			dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
			body := func(name string, autoStart bool) api.CampaignCreate {
				return api.CampaignCreate{Name: name, AutoStart: ptr(autoStart), Generation: prefixGen("run", "abcdefghij", 3, []string{".test"}, 400),
					Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(1000), Retries: ptr(0), RateLimitQps: ptr(1), Concurrency: ptr(1)}}
			}
			ids := make([]uuid.UUID, 6)
			for i := range ids {
				r, err := cl.CreateCampaignWithResponse(ctx, body(fmt.Sprintf("draft %d", i), false))
				mustStatus(t, "create a draft", r, err, 201)
				ids[i] = r.JSON201.Id
			}
			u.checkUsage(ctx, t, "six drafts", api.QuotaUsage{StoredDomains: 2400})

			// Six starts at once at a quota of two: exactly two pass.
			states := map[uuid.UUID]string{}
			for _, id := range ids {
				states[id] = u.campaignState(ctx, t, id)
			}
			var wg sync.WaitGroup
			answers := make([]*client.StartCampaignResponse, len(ids))
			errs := make([]error, len(ids))
			for i, id := range ids {
				wg.Go(func() { answers[i], errs[i] = cl.StartCampaignWithResponse(ctx, id) })
			}
			wg.Wait()
			var started, refused []uuid.UUID
			for i, id := range ids {
				if errs[i] == nil && answers[i].StatusCode() == 200 {
					started = append(started, id)
					continue
				}
				checkProblem(t, "a start past two running", answers[i], errs[i], 429, "quota_running_campaigns")
				refused = append(refused, id)
			}
			if len(started) != 2 {
				t.Fatalf("six concurrent starts at a quota of two: %d passed", len(started))
			}
			for _, id := range refused {
				if got := u.campaignState(ctx, t, id); got != states[id] {
					t.Errorf("a refused start changed the campaign: %s, was %s", got, states[id])
				}
			}
			u.checkUsage(ctx, t, "two started", api.QuotaUsage{RunningCampaigns: 2, StoredDomains: 2400})

			// Created with auto_start past the quota: nothing is created.
			r, err := cl.CreateCampaignWithResponse(ctx, body("auto", true))
			checkProblem(t, "auto_start past two running", r, err, 429, "quota_running_campaigns")
			if n := u.campaignCount(ctx, t); n != 6 {
				t.Errorf("the refused auto_start created a campaign: %d campaigns, want 6", n)
			}
			// Another user has quotas of his own.
			or, err := other.api().CreateCampaignWithResponse(ctx, body("another user's", true))
			mustStatus(t, "another user's auto_start", or, err, 201)

			// A pause makes room; the paused campaign cannot resume while
			// the room is taken again.
			pr, err := cl.PauseCampaignWithResponse(ctx, started[0])
			mustStatus(t, "pause", pr, err, 200)
			u.checkUsage(ctx, t, "one paused", api.QuotaUsage{RunningCampaigns: 1, StoredDomains: 2400})
			sr, err := cl.StartCampaignWithResponse(ctx, refused[0])
			mustStatus(t, "start in the room a pause made", sr, err, 200)
			before := u.campaignState(ctx, t, started[0])
			rr, err := cl.ResumeCampaignWithResponse(ctx, started[0])
			checkProblem(t, "a resume past two running", rr, err, 429, "quota_running_campaigns")
			if got := u.campaignState(ctx, t, started[0]); got != before {
				t.Errorf("a refused resume changed the campaign: %s, was %s", got, before)
			}
			// A call the status does not allow is still a conflict.
			cr, err := cl.StartCampaignWithResponse(ctx, started[1])
			checkProblem(t, "start a started campaign at the quota", cr, err, 409, "conflict")
			u.checkUsage(ctx, t, "two running again", api.QuotaUsage{RunningCampaigns: 2, StoredDomains: 2400})
		})

		t.Run("proxies", func(t *testing.T) {
			u := s.newUser(t, "proxies")
			cl := u.api()
			create := func(name string) (*client.CreateProxyResponse, error) {
				return cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: name, Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128})
			}
			var first uuid.UUID
			for i := range 2 {
				r, err := create(fmt.Sprintf("proxy %d", i))
				mustStatus(t, "create a proxy", r, err, 201)
				if i == 0 {
					first = r.JSON201.Id
				}
			}
			u.checkUsage(ctx, t, "two proxies", api.QuotaUsage{Proxies: 2})
			r, err := create("one too many")
			checkProblem(t, "a third proxy", r, err, 429, "quota_proxies")
			lr, err := cl.ListProxiesWithResponse(ctx)
			mustStatus(t, "list proxies", lr, err, 200)
			if len(lr.JSON200.Items) != 2 {
				t.Errorf("the refused proxy was created: %d proxies", len(lr.JSON200.Items))
			}
			dr, err := cl.DeleteProxyWithResponse(ctx, first)
			mustStatus(t, "delete a proxy", dr, err, 204)
			u.checkUsage(ctx, t, "one proxy", api.QuotaUsage{Proxies: 1})
			r, err = create("in the room")
			mustStatus(t, "a proxy in the room the delete made", r, err, 201)
		})

		t.Run("websockets", func(t *testing.T) {
			u := s.newUser(t, "watcher")
			conns := make([]*wsClient, 3)
			for i := range conns {
				conns[i] = u.connectWS(ctx, t, s)
			}
			u.checkUsage(ctx, t, "three connections", api.QuotaUsage{Websockets: 3})
			for what, query := range map[string]string{"header": "", "query": "access_token=" + url.QueryEscape(u.Token)} {
				var header http.Header
				if query == "" {
					header = http.Header{"Authorization": {"Bearer " + u.Token}}
				}
				r, upgraded := handshake(ctx, t, wsURL(s, query), header)
				if upgraded {
					t.Errorf("a fourth connection (token in the %s) was upgraded; want 429", what)
					continue
				}
				checkProblem(t, "a fourth connection, token in the "+what, r, nil, 429, "quota_websockets")
			}
			u.checkUsage(ctx, t, "after the refused handshakes", api.QuotaUsage{Websockets: 3})

			// Another token of the same user has its own.
			again := s.newUser(t, "watcher")
			again.connectWS(ctx, t, s)
			again.checkUsage(ctx, t, "the other token", api.QuotaUsage{Websockets: 1})

			// Once one closes, the next handshake is accepted.
			conns[0].conn.Close(websocket.StatusNormalClosure, "")
			deadline := time.Now().Add(10 * time.Second)
			for u.me(ctx, t).Usage.Websockets != 2 {
				if time.Now().After(deadline) {
					t.Fatalf("/api/v1/me counts %d connections 10 s after one closed, want 2", u.me(ctx, t).Usage.Websockets)
				}
				time.Sleep(50 * time.Millisecond)
			}
			u.connectWS(ctx, t, s)
			u.checkUsage(ctx, t, "three again", api.QuotaUsage{Websockets: 3})
		})
	})
}
