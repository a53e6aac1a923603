package tests

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/gen/client"
)

// forwardedFor returns a client of the user's whose requests come, in
// X-Forwarded-For, from addr.
func (u *apiUser) forwardedFor(addr string) *client.ClientWithResponses {
	c, err := client.NewClientWithResponses(u.srv.BaseURL, client.WithHTTPClient(httpClient),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+u.Token)
			req.Header.Set("X-Forwarded-For", addr)
			return nil
		}))
	if err != nil {
		panic(err)
	}
	return c
}

// auditTrail reads every page of the user's audit trail, pages of limit.
func (u *apiUser) auditTrail(ctx context.Context, t *testing.T, limit int) []api.AuditEvent {
	t.Helper()
	var all []api.AuditEvent
	params := &api.ListAuditEventsParams{Limit: &limit}
	for range 100 {
		r, err := u.api().ListAuditEventsWithResponse(ctx, params)
		mustStatus(t, "GET /audit", r, err, 200)
		page := r.JSON200
		all = append(all, page.Items...)
		if page.HasMore != (page.NextCursor != nil) || len(page.Items) > limit || page.Limit != limit {
			t.Fatalf("audit page: has_more %v, next_cursor %v, %d items, limit %d; asked for %d", page.HasMore, page.NextCursor, len(page.Items), page.Limit, limit)
		}
		if !page.HasMore {
			return all
		}
		params.Cursor = page.NextCursor
	}
	t.Fatal("the audit trail did not end after 100 pages")
	return nil
}

// TestAuditTrail: a user's changes — through the API and the command line
// — appear in GET /api/v1/audit with the right action, resource and client
// address, and another user's do not; the command line prints them; bad
// parameters are refused naming them.
func TestAuditTrail(t *testing.T) {
	// Behind a trusted proxy (here: loopback), the address a request came
	// from is the one X-Forwarded-For names.
	eachDialectWith(t, func(t *testing.T, d string) *testServer { return startServer(t, d, "--trusted-proxies", "127.0.0.1") }, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "bob")
		const aliceAddr = "203.0.113.9"
		cl := alice.forwardedFor(aliceAddr)
		// Held DNS answers keep the campaign from finishing between the
		// calls.
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		release := dnsSrv.hold()
		defer release()

		cr, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "audited", Generation: prefixGen("aud", "ab", 1, []string{".test"}, 2),
			Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(3000), Retries: ptr(0)}})
		mustStatus(t, "create campaign", cr, err, 201)
		cid := cr.JSON201.Id
		for _, call := range []struct {
			name string
			do   func(context.Context, uuid.UUID, ...client.RequestEditorFn) (response, error)
		}{
			{"start", func(ctx context.Context, id uuid.UUID, e ...client.RequestEditorFn) (response, error) {
				return cl.StartCampaignWithResponse(ctx, id, e...)
			}},
			{"pause", func(ctx context.Context, id uuid.UUID, e ...client.RequestEditorFn) (response, error) {
				return cl.PauseCampaignWithResponse(ctx, id, e...)
			}},
			{"resume", func(ctx context.Context, id uuid.UUID, e ...client.RequestEditorFn) (response, error) {
				return cl.ResumeCampaignWithResponse(ctx, id, e...)
			}},
			{"cancel", func(ctx context.Context, id uuid.UUID, e ...client.RequestEditorFn) (response, error) {
				return cl.CancelCampaignWithResponse(ctx, id, e...)
			}},
		} {
			r, err := call.do(ctx, cid)
			mustStatus(t, call.name, r, err, 200)
		}
		// Refused: nothing happened, nothing is recorded.
		r, err := cl.PauseCampaignWithResponse(ctx, cid)
		mustStatus(t, "pause a cancelled campaign", r, err, 409)
		del, err := cl.DeleteCampaignWithResponse(ctx, cid)
		mustStatus(t, "delete campaign", del, err, 204)

		const pass = "audit-pw-5e1f"
		pr, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "squid", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128, Password: ptr(pass)})
		mustStatus(t, "create proxy", pr, err, 201)
		pid := pr.JSON201.Id
		up, err := cl.UpdateProxyWithResponse(ctx, pid, api.ProxyUpdate{Name: ptr("squid 2"), Password: ptr(pass + "-new")})
		mustStatus(t, "update proxy", up, err, 200)
		dp, err := cl.DeleteProxyWithResponse(ctx, pid)
		mustStatus(t, "delete proxy", dp, err, 204)

		tr, err := cl.CreateTokenWithResponse(ctx, api.TokenCreate{Name: "for a while"})
		mustStatus(t, "create token", tr, err, 201)
		tid := tr.JSON201.Id
		rv, err := cl.RevokeTokenWithResponse(ctx, tid)
		mustStatus(t, "revoke token", rv, err, 204)

		bp, err := bob.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "bob's", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: 1080})
		mustStatus(t, "bob creates a proxy", bp, err, 201)

		type want struct {
			action          api.AuditEventAction
			rtype           api.AuditEventResourceType
			rid, addr, keys string
		}
		wants := []want{ // newest first
			{api.AuditEventActionTokenRevoked, api.AuditEventResourceTypeToken, tid.String(), aliceAddr, ""},
			{api.AuditEventActionTokenCreated, api.AuditEventResourceTypeToken, tid.String(), aliceAddr, "name"},
			{api.AuditEventActionProxyDeleted, api.AuditEventResourceTypeProxy, pid.String(), aliceAddr, "name"},
			{api.AuditEventActionProxyUpdated, api.AuditEventResourceTypeProxy, pid.String(), aliceAddr, "fields"},
			{api.AuditEventActionProxyCreated, api.AuditEventResourceTypeProxy, pid.String(), aliceAddr, "host,name,port,protocol"},
			{api.AuditEventActionCampaignDeleted, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "name"},
			{api.AuditEventActionCampaignCancelled, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "status"},
			{api.AuditEventActionCampaignResumed, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "status"},
			{api.AuditEventActionCampaignPaused, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "status"},
			{api.AuditEventActionCampaignStarted, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "status"},
			{api.AuditEventActionCampaignCreated, api.AuditEventResourceTypeCampaign, cid.String(), aliceAddr, "name,total_domains"},
			{api.AuditEventActionTokenCreated, api.AuditEventResourceTypeToken, "", "cli", "name"},
		}
		for _, limit := range []int{100, 3} {
			events := alice.auditTrail(ctx, t, limit)
			if len(events) != len(wants) {
				t.Fatalf("limit %d: alice's trail has %d events; want %d: %s", limit, len(events), len(wants), mustJSON(events))
			}
			for i, w := range wants {
				ev := events[i]
				var keys []string
				for k := range ev.Detail {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if ev.Action != w.action || ev.ResourceType != w.rtype || (w.rid != "" && ev.ResourceId != w.rid) || ev.Address != w.addr ||
					ev.UserId != alice.ID || ev.UserName != "alice" || strings.Join(keys, ",") != w.keys {
					t.Errorf("limit %d: event %d = %s; want %+v by alice", limit, i, mustJSON(ev), w)
				}
				if i > 0 && (ev.Id >= events[i-1].Id || ev.At.After(events[i-1].At)) {
					t.Errorf("limit %d: event %d (%d at %v) is not older than the one before (%d at %v)", limit, i, ev.Id, ev.At, events[i-1].Id, events[i-1].At)
				}
			}
			if got := events[3].Detail["fields"]; mustJSON(got) != `["name","password"]` {
				t.Errorf("proxy.updated fields = %s; want [name password]", mustJSON(got))
			}
			if body := mustJSON(events); strings.Contains(body, pass) {
				t.Errorf("the audit trail holds the proxy's password: %s", body)
			}
		}

		// Bob sees his own events only, from the address his requests came
		// from (no X-Forwarded-For: the TCP peer).
		bobs := bob.auditTrail(ctx, t, 50)
		if len(bobs) != 2 || bobs[0].Action != api.AuditEventActionProxyCreated || bobs[0].ResourceId != bp.JSON201.Id.String() || bobs[0].Address != "127.0.0.1" ||
			bobs[1].Action != api.AuditEventActionTokenCreated || bobs[1].Address != "cli" {
			t.Errorf("bob's trail = %s; want his proxy.created from 127.0.0.1 and token.created from cli", mustJSON(bobs))
		}
		for _, ev := range bobs {
			if ev.UserId != bob.ID || ev.ResourceId == cid.String() || ev.ResourceId == pid.String() {
				t.Errorf("bob's trail holds %s", mustJSON(ev))
			}
		}

		// Bad parameters are named.
		domainCursor := base64.RawURLEncoding.EncodeToString([]byte("o5"))
		for _, tc := range []struct{ query, param string }{
			{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=ten", "limit"},
			{"cursor=%21%21", "cursor"}, {"cursor=" + domainCursor, "cursor"}, {"cursor=", "cursor"},
		} {
			r := alice.raw(ctx, t, "GET", "/api/v1/audit?"+tc.query, nil)
			p := checkProblem(t, "GET /audit?"+tc.query, r, nil, 400, "invalid")
			checkNames(t, "GET /audit?"+tc.query, p, byParameter, tc.param)
		}
		if r := rawRequest(ctx, t, s.BaseURL, "GET", "/api/v1/audit", nil); r.Status != 401 {
			t.Errorf("GET /audit without a token: %d", r.Status)
		}

		// The command line prints the trail: one user's, or everyone's.
		out, errOut, err := s.runCLI(t, nil, "audit", "--user", "alice", "--since", "1h", "--database-url", s.DBURL)
		if err != nil {
			t.Fatalf("domainflow audit: %v\n%s", err, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(wants)+1 || !strings.HasPrefix(lines[0], "TIME") {
			t.Fatalf("domainflow audit --user alice printed %d lines; want a header and %d events:\n%s", len(lines), len(wants), out)
		}
		for i, w := range wants {
			l := lines[i+1]
			if !strings.Contains(l, " alice ") || !strings.Contains(l, " "+string(w.action)+" ") || !strings.Contains(l, " "+w.addr+" ") ||
				!strings.Contains(l, string(w.rtype)+" "+w.rid) || strings.Contains(l, pass) {
				t.Errorf("domainflow audit line %d = %q; want %+v", i+1, l, w)
			}
		}
		if out, _, _ := s.runCLI(t, nil, "audit", "--limit", "3", "--database-url", s.DBURL); strings.Count(strings.TrimSpace(out), "\n") != 4 ||
			!strings.Contains(out, "bob") || !strings.Contains(out, "older events not shown") {
			t.Errorf("domainflow audit --limit 3 printed:\n%s\nwant a header, the 3 newest events (bob's first) and a note that older ones exist", out)
		}
		for _, bad := range [][]string{{"--limit", "0"}, {"--since", "yesterday"}} {
			if _, errOut, err := s.runCLI(t, nil, append([]string{"audit", "--database-url", s.DBURL}, bad...)...); err == nil || !strings.Contains(errOut, "flag -"+strings.TrimPrefix(bad[0], "--")) {
				t.Errorf("domainflow audit %s: %v, %q; want an error naming %s", strings.Join(bad, " "), err, errOut, bad[0])
			}
		}
	})
}
