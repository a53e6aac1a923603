package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/server"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// fixture is a real server on a real store, with one user and a campaign.
type fixture struct {
	db       *store.DB
	srv      *httptest.Server
	metrics  *server.Metrics
	user     uuid.UUID
	token    string
	campaign *domainflow.Campaign
}

func newFixture(t *testing.T, db *store.DB, limit server.RateLimit) *fixture {
	t.Helper()
	ctx := context.Background()
	u, err := db.EnsureUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	token, err := db.CreateToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := &domainflow.Campaign{UserID: u.ID, Name: "c", Status: domainflow.StatusDraft, TotalDomains: 100,
		Config: domainflow.CampaignConfig{
			Generation: domainflow.GenerationConfig{PatternType: "prefix", CharacterSet: "ab", VariableLength: 2, TLDs: []string{".com"}, MaxDomains: 100},
			DNS:        domainflow.DefaultDNSConfig(), HTTP: domainflow.DefaultHTTPConfig(), Analysis: domainflow.DefaultAnalysisConfig()}}
	if err := db.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	m := server.NewMetrics()
	h, err := server.New(server.Config{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimit: limit, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{db: db, srv: srv, metrics: m, user: u.ID, token: token, campaign: c}
}

func (f *fixture) get(t *testing.T, path string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (f *fixture) insert(t *testing.T, campaignID uuid.UUID, from, n int) {
	t.Helper()
	rows := make([]domainflow.Domain, n)
	for i := range rows {
		rows[i] = domainflow.Domain{OffsetIndex: int64(from + i), Name: fmt.Sprintf("d%d.com", from+i), TLD: ".com", GeneratedAt: time.Now()}
	}
	if _, _, err := f.db.InsertDomains(context.Background(), f.user, campaignID, rows); err != nil {
		t.Fatal(err)
	}
}

func TestETagsChangeExactlyWhenTheDataDoes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, server.RateLimit{})
		f.insert(t, f.campaign.ID, 0, 10)
		other := &domainflow.Campaign{UserID: f.user, Name: "other", Status: domainflow.StatusDraft, TotalDomains: 10, Config: f.campaign.Config}
		if err := db.CreateCampaign(context.Background(), other); err != nil {
			t.Fatal(err)
		}
		base := "/api/v1/campaigns/" + f.campaign.ID.String()
		paths := []string{base, base + "/domains?limit=5", base + "/domains/status"}
		tags := map[string]string{}
		for _, p := range paths {
			r := f.get(t, p)
			tag := r.Header.Get("ETag")
			if r.StatusCode != 200 || !regexp.MustCompile(`^"[0-9a-z-]+"$`).MatchString(tag) {
				t.Fatalf("GET %s = %d, ETag %q", p, r.StatusCode, tag)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "private, no-cache" {
				t.Errorf("GET %s Cache-Control = %q", p, cc)
			}
			tags[p] = tag
		}
		if tags[base+"/domains?limit=5"] == f.get(t, base+"/domains?limit=6").Header.Get("ETag") {
			t.Errorf("two different pages share an ETag")
		}

		expect := func(what string, changed bool) {
			t.Helper()
			for _, p := range paths {
				r := f.get(t, p, "If-None-Match", tags[p])
				if changed {
					if r.StatusCode != 200 || r.Header.Get("ETag") == tags[p] {
						t.Errorf("after %s: GET %s = %d with ETag %s; want 200 and a new ETag", what, p, r.StatusCode, r.Header.Get("ETag"))
					}
					tags[p] = r.Header.Get("ETag")
				} else if r.StatusCode != http.StatusNotModified || r.Header.Get("ETag") != tags[p] {
					t.Errorf("after %s: GET %s = %d; want 304 with the same ETag", what, p, r.StatusCode)
				}
			}
		}
		expect("nothing", false)
		f.insert(t, other.ID, 0, 5)
		expect("a change to another campaign", false)
		f.insert(t, f.campaign.ID, 0, 10)
		expect("re-inserting existing rows", false) // a write that changes nothing moves no version
		expect("nothing", false)
		f.insert(t, f.campaign.ID, 10, 1)
		expect("a new domain", true)
		if _, _, err := db.Record(context.Background(), f.user, f.campaign.ID, domainflow.PhaseDNS, []domainflow.DomainOutcome{
			domainflow.PendingDomain{OffsetIndex: 3}.DNSChecked(domainflow.DNSResult{Status: "ok", Addresses: []string{"192.0.2.1"}}, 1)}); err != nil {
			t.Fatal(err)
		}
		expect("a domain validated", true)
		expect("nothing", false)
	})
}

func TestRateLimit(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	f := newFixture(t, db, server.RateLimit{Rate: 0.5, Burst: 3})
	path := "/api/v1/campaigns/" + f.campaign.ID.String() + "/domains/status"

	first := f.get(t, path)
	tag := first.Header.Get("ETag")
	if first.Header.Get("X-RateLimit-Limit") != "0.5" || first.Header.Get("X-RateLimit-Remaining") != "2" || first.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("first answer's rate headers: %v", first.Header)
	}
	for range 5 { // polls that find nothing new cost nothing
		if r := f.get(t, path, "If-None-Match", tag); r.StatusCode != 304 || r.Header.Get("X-RateLimit-Remaining") != "1" {
			t.Fatalf("conditional poll = %d, remaining %s; want 304 and the budget untouched (2 before this poll is taken back)",
				r.StatusCode, r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	// If-None-Match: * is no ETag: the full answer, and it is charged.
	for _, poll := range []struct{ ifNoneMatch, remaining string }{{"*", "1"}, {"", "0"}} {
		if r := f.get(t, path, "If-None-Match", poll.ifNoneMatch); r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") != poll.remaining {
			t.Fatalf("GET with If-None-Match %q = %d, remaining %s; want 200, %s", poll.ifNoneMatch, r.StatusCode, r.Header.Get("X-RateLimit-Remaining"), poll.remaining)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || p.Code != "rate_limited" || p.Status != 429 || retry < 1 || retry > 2 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("over the limit: %d %+v Retry-After %q headers %v", resp.StatusCode, p, resp.Header.Get("Retry-After"), resp.Header)
	}

	// Without a valid token the budget is the client address's.
	var statuses []int
	for range 4 {
		statuses = append(statuses, f.get(t, path, "Authorization", "").StatusCode)
	}
	if fmt.Sprint(statuses) != "[401 401 401 429]" {
		t.Fatalf("anonymous statuses = %v; want three 401s then 429", statuses)
	}
}

func TestMetricsMoveWithRequests(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	f := newFixture(t, db, server.RateLimit{})
	path := "/api/v1/campaigns/" + f.campaign.ID.String() + "/domains/status"
	tag := f.get(t, path).Header.Get("ETag")
	f.get(t, path, "If-None-Match", tag)
	f.get(t, path, "If-None-Match", tag)
	f.get(t, path, "If-None-Match", `"stale"`)
	if r := f.get(t, path, "If-None-Match", "*"); r.StatusCode != 200 { // a full answer: a miss
		t.Errorf("GET with If-None-Match: * = %d; want 200", r.StatusCode)
	}
	f.get(t, "/api/v1/campaigns/"+uuid.NewString()+"/domains/status", "If-None-Match", tag) // a 404: neither

	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	route := `route="/api/v1/campaigns/:campaignId/domains/status"`
	for _, want := range []string{
		`domainflow_http_request_duration_seconds_count{method="GET",` + route + `,status="200"} 3`,
		`domainflow_http_request_duration_seconds_count{method="GET",` + route + `,status="304"} 2`,
		`domainflow_http_request_duration_seconds_count{method="GET",` + route + `,status="404"} 1`,
		`domainflow_http_conditional_requests_total{outcome="hit",` + route + `} 2`,
		`domainflow_http_conditional_requests_total{outcome="miss",` + route + `} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestCampaignListETag(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, server.RateLimit{})
		ctx := context.Background()
		const list = "/api/v1/campaigns?limit=10"
		tag := f.get(t, list).Header.Get("ETag")
		if tag == "" {
			t.Fatal("the campaign list has no ETag")
		}
		expect := func(what string, changed bool) {
			t.Helper()
			r := f.get(t, list, "If-None-Match", tag)
			switch {
			case changed && (r.StatusCode != 200 || r.Header.Get("ETag") == tag):
				t.Errorf("after %s: %d with ETag %s; want 200 and a new ETag", what, r.StatusCode, r.Header.Get("ETag"))
			case !changed && r.StatusCode != http.StatusNotModified:
				t.Errorf("after %s: %d; want 304", what, r.StatusCode)
			}
			if changed {
				tag = r.Header.Get("ETag")
			}
		}
		expect("nothing", false)
		other := &domainflow.Campaign{UserID: f.user, Name: "other", Status: domainflow.StatusDraft, TotalDomains: 10, Config: f.campaign.Config}
		if err := db.CreateCampaign(ctx, other); err != nil {
			t.Fatal(err)
		}
		expect("a new campaign", true)
		f.insert(t, other.ID, 0, 3)
		expect("a campaign's domains changing", true)
		if _, err := db.Transition(ctx, f.user, other.ID, domainflow.ActionCancel); err != nil {
			t.Fatal(err)
		}
		expect("a campaign cancelled", true)
		if err := db.DeleteCampaign(ctx, f.user, other.ID); err != nil {
			t.Fatal(err)
		}
		expect("a campaign deleted", true)
		expect("nothing", false)
	})
}
