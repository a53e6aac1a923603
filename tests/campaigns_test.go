package tests

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
)

// sameCampaign compares two representations of one campaign; timestamps may
// differ by what the database keeps of them (PostgreSQL: microseconds).
func sameCampaign(t *testing.T, what string, got, want api.Campaign) {
	t.Helper()
	gc, _ := json.Marshal(got.Config)
	wc, _ := json.Marshal(want.Config)
	switch {
	case got.Id != want.Id, got.Name != want.Name, got.Description != want.Description, got.Status != want.Status,
		got.TotalDomains != want.TotalDomains, deref(got.CurrentPhase) != deref(want.CurrentPhase):
		t.Errorf("%s: campaign %+v, want %+v", what, got, want)
	case string(gc) != string(wc):
		t.Errorf("%s: config %s, want %s", what, gc, wc)
	case !closeTimes(got.CreatedAt, want.CreatedAt):
		t.Errorf("%s: created_at %v, want %v", what, got.CreatedAt, want.CreatedAt)
	}
}

func closeTimes(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

func TestCampaignLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		cl := alice.api()
		bob.createCampaign(ctx, t, "bob's only", testGeneration())

		// Create with only the required parts: every default is filled in.
		before := time.Now().Add(-time.Second)
		created, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "widgets-3", Description: ptr("three-letter prefixes"),
			Generation: api.GenerationConfig{PatternType: api.Prefix, ConstantString: ptr("widgets"), CharacterSet: "abcabc",
				VariableLength: 3, Tlds: []string{".com", ".net"}, MaxDomains: 50},
		})
		mustStatus(t, "create campaign", created, err, 201)
		c := *created.JSON201
		if c.Id == uuid.Nil || c.Name != "widgets-3" || c.Description != "three-letter prefixes" || c.Status != api.CampaignStatusDraft || c.CurrentPhase != nil {
			t.Errorf("created campaign: %s", created.Body)
		}
		if c.CreatedAt.Before(before) || c.UpdatedAt.Before(c.CreatedAt) || c.StartedAt != nil || c.CompletedAt != nil {
			t.Errorf("created campaign times: created %v, updated %v, started %v, completed %v", c.CreatedAt, c.UpdatedAt, c.StartedAt, c.CompletedAt)
		}
		if c.TotalDomains != 50 { // 3^3 × 2 = 54 names, capped at 50
			t.Errorf("total_domains = %d, want 50", c.TotalDomains)
		}
		g := c.Config.Generation
		if g.CharacterSet != "abc" {
			t.Errorf("character_set = %q, want repeats removed: %q", g.CharacterSet, "abc")
		}
		if g.PatternType != api.Prefix || deref(g.ConstantString) != "widgets" || g.VariableLength != 3 || !slices.Equal(g.Tlds, []string{".com", ".net"}) || g.MaxDomains != 50 {
			t.Errorf("generation = %+v", g)
		}
		d, h := c.Config.Dns, c.Config.Http
		if d.Resolvers == nil || len(*d.Resolvers) != 0 || deref(d.TimeoutMs) != 2000 || deref(d.Retries) != 1 || deref(d.Concurrency) != 50 || deref(d.RateLimitQps) != 0 {
			t.Errorf("dns defaults: %s", mustJSON(d))
		}
		if !slices.Equal(deref(h.Ports), []int{80}) || deref(h.Scheme) != api.HTTPConfigSchemeHttp || deref(h.KeywordMode) != api.Plain ||
			deref(h.TimeoutMs) != 5000 || deref(h.Concurrency) != 20 || !deref(h.FollowRedirects) || deref(h.MaxRedirects) != 5 ||
			deref(h.MaxBodyBytes) != 1048576 || deref(h.UserAgent) != "DomainFlow/1.0" || h.ProxyIds == nil || len(*h.ProxyIds) != 0 ||
			h.Keywords == nil || len(*h.Keywords) != 0 {
			t.Errorf("http defaults: %s", mustJSON(h))
		}
		if deref(c.Config.Analysis.MinLeadScore) != 40 {
			t.Errorf("analysis defaults: %s", mustJSON(c.Config.Analysis))
		}

		// Given values are kept.
		full, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "full", Generation: api.GenerationConfig{PatternType: api.Both, ConstantString: ptr("-x-"), CharacterSet: "ab",
				VariableLength: 2, Tlds: []string{".io"}, MaxDomains: 1000},
			Dns:      &api.DNSConfig{Resolvers: &[]string{"127.0.0.1:5353", "[::1]:53"}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(7), RateLimitQps: ptr(100)},
			Http:     &api.HTTPConfig{Keywords: &[]string{"widgets", "pricing"}, Ports: &[]int{80, 8080}, Scheme: ptr(api.HTTPConfigSchemeHttps), FollowRedirects: ptr(false), UserAgent: ptr("probe/2")},
			Analysis: &api.AnalysisConfig{MinLeadScore: ptr(70)},
		})
		mustStatus(t, "create campaign with every part", full, err, 201)
		f := full.JSON201
		if f.TotalDomains != 16 { // 2^(2×2) × 1
			t.Errorf("both-pattern total_domains = %d, want 16", f.TotalDomains)
		}
		if !slices.Equal(deref(f.Config.Dns.Resolvers), []string{"127.0.0.1:5353", "[::1]:53"}) || deref(f.Config.Dns.TimeoutMs) != 300 ||
			deref(f.Config.Dns.Retries) != 0 || deref(f.Config.Dns.Concurrency) != 7 || deref(f.Config.Dns.RateLimitQps) != 100 {
			t.Errorf("dns config not kept: %s", mustJSON(f.Config.Dns))
		}
		if !slices.Equal(deref(f.Config.Http.Keywords), []string{"widgets", "pricing"}) || !slices.Equal(deref(f.Config.Http.Ports), []int{80, 8080}) ||
			deref(f.Config.Http.Scheme) != api.HTTPConfigSchemeHttps || deref(f.Config.Http.FollowRedirects) || deref(f.Config.Http.UserAgent) != "probe/2" ||
			deref(f.Config.Http.TimeoutMs) != 5000 {
			t.Errorf("http config not kept (or defaults lost): %s", mustJSON(f.Config.Http))
		}
		if deref(f.Config.Analysis.MinLeadScore) != 70 {
			t.Errorf("min_lead_score = %d, want 70", deref(f.Config.Analysis.MinLeadScore))
		}

		// Get returns what create returned.
		got, err := cl.GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "get campaign", got, err, 200)
		sameCampaign(t, "get after create", *got.JSON200, c)

		// List: newest first, paged.
		ids := []uuid.UUID{c.Id, f.Id}
		for i := range 4 {
			ids = append(ids, alice.createCampaign(ctx, t, fmt.Sprintf("more-%d", i), testGeneration()).Id)
		}
		slices.Reverse(ids) // newest first
		var listed []uuid.UUID
		for _, page := range []struct {
			offset int64
			n      int
			more   bool
		}{{0, 4, true}, {4, 2, false}, {6, 0, false}} {
			lr, err := cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{Limit: ptr(4), Offset: ptr(page.offset)})
			mustStatus(t, fmt.Sprintf("list campaigns at offset %d", page.offset), lr, err, 200)
			p := lr.JSON200
			if p.Total != 6 || p.Limit != 4 || p.Offset != page.offset || len(p.Items) != page.n || p.HasMore != page.more {
				t.Errorf("list at offset %d: total %d, limit %d, offset %d, %d items, has_more %v; want 6, 4, %d, %d, %v",
					page.offset, p.Total, p.Limit, p.Offset, len(p.Items), p.HasMore, page.offset, page.n, page.more)
			}
			for _, it := range p.Items {
				listed = append(listed, it.Id)
			}
		}
		if !slices.Equal(listed, ids) {
			t.Errorf("campaigns listed %v, want newest first %v", listed, ids)
		}
		def, err := cl.ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "list campaigns with defaults", def, err, 200)
		if def.JSON200.Limit != 50 || def.JSON200.Offset != 0 || len(def.JSON200.Items) != 6 {
			t.Errorf("list with defaults: limit %d, offset %d, %d items; want 50, 0, 6", def.JSON200.Limit, def.JSON200.Offset, len(def.JSON200.Items))
		}
		for status, want := range map[api.CampaignStatus]int64{api.CampaignStatusDraft: 6, api.CampaignStatusRunning: 0} {
			lr, err := cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{Status: ptr(status)})
			mustStatus(t, "list "+string(status)+" campaigns", lr, err, 200)
			if lr.JSON200.Total != want || int64(len(lr.JSON200.Items)) != want {
				t.Errorf("list %s campaigns: total %d, %d items; want %d", status, lr.JSON200.Total, len(lr.JSON200.Items), want)
			}
		}

		// Delete: the campaign and its domains are gone.
		rng := newRand(10)
		s.insertRows(ctx, t, alice, c, makeRows(t, c, 0, 50, rng), rng)
		del, err := cl.DeleteCampaignWithResponse(ctx, c.Id)
		mustStatus(t, "delete campaign", del, err, 204)
		if len(del.Body) != 0 {
			t.Errorf("204 with a body: %s", del.Body)
		}
		gone, err := cl.GetCampaignWithResponse(ctx, c.Id, nil)
		checkProblem(t, "get deleted campaign", gone, err, 404, "not_found")
		gd, err := cl.ListDomainsWithResponse(ctx, c.Id, nil)
		checkProblem(t, "domains of deleted campaign", gd, err, 404, "not_found")
		again, err := cl.DeleteCampaignWithResponse(ctx, c.Id)
		checkProblem(t, "delete deleted campaign", again, err, 404, "not_found")
		lr, err := cl.ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "list after delete", lr, err, 200)
		if lr.JSON200.Total != 5 || slices.ContainsFunc(lr.JSON200.Items, func(x api.Campaign) bool { return x.Id == c.Id }) {
			t.Errorf("after delete: total %d, deleted campaign listed %v", lr.JSON200.Total,
				slices.ContainsFunc(lr.JSON200.Items, func(x api.Campaign) bool { return x.Id == c.Id }))
		}
		// The store agrees: the domain rows went with the campaign.
		if _, _, err := s.DB(t).InsertDomains(ctx, alice.ID, c.Id, nil); err == nil {
			t.Errorf("the store still accepts domains for the deleted campaign")
		}
	})
}

// TestRestartKeepsData starts on an empty database (the server migrates it;
// the other tests' servers start on a copy of one that "domainflow migrate"
// made), restarts the server and checks that nothing was lost.
func TestRestartKeepsData(t *testing.T) {
	eachDialectWith(t, func(t *testing.T, d string) *testServer { return startServerOnEmpty(t, d) }, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		c, rows := s.seedCampaign(ctx, t, alice, "durable", 700, 11)
		pr, err := alice.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "durable proxy", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: 1080, Password: ptr("pw")})
		mustStatus(t, "create proxy", pr, err, 201)

		before, err := alice.api().GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "get campaign before restart", before, err, 200)
		sumBefore, err := alice.api().GetDomainStatusSummaryWithResponse(ctx, c.Id, nil)
		mustStatus(t, "summary before restart", sumBefore, err, 200)
		oldURL := s.BaseURL

		s.restart(t)
		if s.BaseURL == oldURL {
			t.Logf("the new process happens to listen on the same address %s", oldURL)
		}

		after, err := alice.api().GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "get campaign after restart", after, err, 200)
		sameCampaign(t, "campaign after restart", *after.JSON200, *before.JSON200)
		// Unchanged data keeps its ETag across a restart: a poller gets a 304.
		tag := deref(etagOf(before.HTTPResponse.Header))
		cond, err := alice.api().GetCampaignWithResponse(ctx, c.Id, &api.GetCampaignParams{IfNoneMatch: &tag})
		checkStatus(t, "get campaign after restart with the ETag from before", cond, err, 304)

		sumAfter, err := alice.api().GetDomainStatusSummaryWithResponse(ctx, c.Id, nil)
		mustStatus(t, "summary after restart", sumAfter, err, 200)
		a, b := *sumAfter.JSON200, *sumBefore.JSON200
		if a.Generated != b.Generated || a.Overall != b.Overall || mustJSON(a.Dns) != mustJSON(b.Dns) || a.Analysis != b.Analysis || a.Leads != b.Leads || a.Progress != b.Progress {
			t.Errorf("summary after restart %s, before %s", sumAfter.Body, sumBefore.Body)
		}
		got := walkCursor(ctx, t, alice, c.Id, api.ListDomainsParams{}, 250, len(rows))
		checkSequence(t, "domains after restart", got, rows)

		p, err := alice.api().GetProxyWithResponse(ctx, pr.JSON201.Id)
		mustStatus(t, "get proxy after restart", p, err, 200)
		if p.JSON200.Name != "durable proxy" || !p.JSON200.HasCredentials {
			t.Errorf("proxy after restart: %s", p.Body)
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func TestCreateAnswersTheStoredTimestamps(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		c := alice.createCampaign(ctx, t, "timestamps", testGeneration())
		got, err := alice.api().GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "get campaign", got, err, 200)
		if !got.JSON200.CreatedAt.Equal(c.CreatedAt) || !got.JSON200.UpdatedAt.Equal(c.UpdatedAt) {
			t.Errorf("create answered created_at %v, updated_at %v; get answers %v, %v",
				c.CreatedAt, c.UpdatedAt, got.JSON200.CreatedAt, got.JSON200.UpdatedAt)
		}
	})
}
