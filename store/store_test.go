package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

var ctx = context.Background()

func newUser(t *testing.T, db *store.DB, name string) uuid.UUID {
	t.Helper()
	u, err := db.EnsureUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func newCampaign(t *testing.T, db *store.DB, userID uuid.UUID) *domainflow.Campaign {
	t.Helper()
	c := &domainflow.Campaign{
		UserID: userID, Name: "c", Status: domainflow.StatusDraft, TotalDomains: 100,
		Config: domainflow.CampaignConfig{
			Generation: domainflow.GenerationConfig{PatternType: "prefix", CharacterSet: "ab", VariableLength: 2, TLDs: []string{".com"}, MaxDomains: 100},
			DNS:        domainflow.DefaultDNSConfig(), HTTP: domainflow.DefaultHTTPConfig(), Analysis: domainflow.DefaultAnalysisConfig(),
		},
	}
	if err := db.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func code(err error) string { return domainflow.ErrorCode(err) }

func TestMigrateTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestCampaignsAreScopedToTheirOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		c := newCampaign(t, db, alice)
		got, err := db.GetCampaign(ctx, alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "c" || got.Config.Generation.CharacterSet != "ab" || got.Version != 1 || got.Status != domainflow.StatusDraft {
			t.Errorf("GetCampaign = %+v", got)
		}
		if _, err := db.GetCampaign(ctx, bob, c.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob GetCampaign error = %v; want not_found", err)
		}
		if pages, err := db.DomainPages(ctx, bob, []uuid.UUID{c.ID}, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 10, After: -1}); err != nil || len(pages) != 0 {
			t.Errorf("bob DomainPages = %d pages, %v; want none", len(pages), err)
		}
		if _, _, err := db.InsertDomains(ctx, bob, c.ID, domains(c.ID, 0, 3)); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob InsertDomains error = %v; want not_found", err)
		}
		if page, err := db.ListDomains(ctx, bob, c.ID, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 10, After: -1}); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob ListDomains = %v, %v; want not_found", page, err)
		}
		if err := db.DeleteCampaign(ctx, bob, c.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob DeleteCampaign error = %v; want not_found", err)
		}
		if list, err := db.ListCampaigns(ctx, bob, "", 10, 0); err != nil || list.Total != 0 || len(list.Items) != 0 {
			t.Errorf("bob ListCampaigns = %+v, %v", list, err)
		}
		if err := db.DeleteCampaign(ctx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetCampaign(ctx, alice, c.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("GetCampaign after delete error = %v", err)
		}
	})
}

func TestListCampaignsPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		var ids []uuid.UUID
		for range 5 {
			ids = append(ids, newCampaign(t, db, alice).ID)
			time.Sleep(2 * time.Millisecond) // distinct created_at
		}
		slices.Reverse(ids)
		var got []uuid.UUID
		for offset := int64(0); offset < 6; offset += 2 {
			list, err := db.ListCampaigns(ctx, alice, "", 2, offset)
			if err != nil || list.Total != 5 {
				t.Fatalf("ListCampaigns = %+v, %v", list, err)
			}
			for _, c := range list.Items {
				got = append(got, c.ID)
			}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("pages = %v; want newest first %v", got, ids)
		}
		if list, _ := db.ListCampaigns(ctx, alice, "running", 10, 0); list.Total != 0 || len(list.Items) != 0 {
			t.Errorf("status filter kept %d", list.Total)
		}
	})
}

// domains makes n rows from offset start; row i's states cycle through the
// combinations the filters care about.
func domains(campaignID uuid.UUID, start, n int) []domainflow.Domain {
	out := make([]domainflow.Domain, n)
	for i := range out {
		idx := int64(start + i)
		d := domainflow.Domain{CampaignID: campaignID, OffsetIndex: idx, Name: fmt.Sprintf("d%05d.com", idx), TLD: ".com", GeneratedAt: time.Now()}
		switch idx % 4 {
		case 1: // DNS failed
			d.State, d.DNSState, d.HTTPState, d.LeadState = domainflow.StateFailed, domainflow.StateFailed, domainflow.StateSkipped, domainflow.StateFailed
			d.DNSResult = &domainflow.DNSResult{Status: "error", Reason: "nxdomain"}
		case 2: // a lead
			d.State, d.DNSState, d.HTTPState, d.LeadState, d.LeadScore = domainflow.StateValidated, domainflow.StateValidated, domainflow.StateValidated, domainflow.StateValidated, 70
			d.DNSResult = &domainflow.DNSResult{Status: "ok", Addresses: []string{"127.0.0.1"}}
			d.HTTPResult = &domainflow.HTTPResult{Status: "ok", StatusCode: 200, Title: "T", KeywordsFound: []string{"k"}}
		case 3: // DNS ok, not yet fetched
			d.State, d.DNSState = domainflow.StateValidated, domainflow.StateValidated
			d.DNSResult = &domainflow.DNSResult{Status: "ok"}
		}
		out[i] = d
	}
	return out
}

func TestInsertDomainsNeverDuplicatesAndKeepsCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		c := newCampaign(t, db, alice)
		n, _, err := db.InsertDomains(ctx, alice, c.ID, domains(c.ID, 0, 2500))
		if err != nil || n != 2500 {
			t.Fatalf("InsertDomains = %d, %v", n, err)
		}
		// A resumed run writes an overlapping range again.
		n, _, err = db.InsertDomains(ctx, alice, c.ID, domains(c.ID, 2000, 1000))
		if err != nil || n != 500 {
			t.Fatalf("overlapping InsertDomains = %d, %v; want 500 new", n, err)
		}
		c, _ = db.GetCampaign(ctx, alice, c.ID)
		want := domainflow.Counts{Generated: 3000, Validated: 1500, Failed: 750, DNSOK: 1500, DNSFailed: 750,
			HTTPOK: 750, HTTPSkipped: 750, LeadMatch: 750, LeadNoMatch: 750}
		if c.Counts != want {
			t.Errorf("counts = %+v; want %+v", c.Counts, want)
		}
		if c.Version != 3 {
			t.Errorf("version = %d; want 3 after two writes", c.Version)
		}
	})
}

func TestListDomainsFiltersAndPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		c := newCampaign(t, db, alice)
		rows := domains(c.ID, 0, 403)
		if _, _, err := db.InsertDomains(ctx, alice, c.ID, rows); err != nil {
			t.Fatal(err)
		}

		keep := func(pred func(d domainflow.Domain) bool) []int64 {
			var out []int64
			for _, d := range rows {
				if pred(d) {
					out = append(out, d.OffsetIndex)
				}
			}
			return out
		}
		tests := []struct {
			name string
			f    domainflow.DomainFilter
			want []int64
		}{
			{"all", domainflow.DomainFilter{}, keep(func(domainflow.Domain) bool { return true })},
			{"generated", domainflow.DomainFilter{Status: "generated"}, keep(func(domainflow.Domain) bool { return true })},
			{"validated", domainflow.DomainFilter{Status: "validated"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 >= 2 })},
			{"failed", domainflow.DomainFilter{Status: "failed"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 1 })},
			{"dns pending", domainflow.DomainFilter{Status: "generated", Phase: "dns"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 0 })},
			{"dns ok", domainflow.DomainFilter{Status: "validated", Phase: "dns"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 >= 2 })},
			{"dns failed", domainflow.DomainFilter{Status: "failed", Phase: "dns"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 1 })},
			{"http pending", domainflow.DomainFilter{Status: "generated", Phase: "http"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 0 || d.OffsetIndex%4 == 3 })},
			{"http ok", domainflow.DomainFilter{Status: "validated", Phase: "http"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 2 })},
			{"http failed", domainflow.DomainFilter{Status: "failed", Phase: "http"}, nil},
			{"leads", domainflow.DomainFilter{Status: "validated", Phase: "analysis"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 2 })},
			{"no match", domainflow.DomainFilter{Status: "failed", Phase: "analysis"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex%4 == 1 })},
			{"q", domainflow.DomainFilter{Q: "D0012"}, keep(func(d domainflow.Domain) bool { return d.OffsetIndex >= 120 && d.OffsetIndex < 130 })},
			{"q and filter", domainflow.DomainFilter{Q: "0012", Status: "failed"}, []int64{121, 125, 129}},
			{"q with like wildcards", domainflow.DomainFilter{Q: "%"}, nil},
			{"q underscore", domainflow.DomainFilter{Q: "d_0"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// By cursor, 7 at a time.
				var got []int64
				after := int64(-1)
				for {
					page, err := db.ListDomains(ctx, alice, c.ID, tt.f, domainflow.PageRequest{Limit: 7, After: after})
					if err != nil {
						t.Fatal(err)
					}
					if page.Total != int64(len(tt.want)) {
						t.Fatalf("total = %d; want %d", page.Total, len(tt.want))
					}
					for _, d := range page.Items {
						got = append(got, d.OffsetIndex)
					}
					if !page.HasMore {
						break
					}
					after = page.Items[len(page.Items)-1].OffsetIndex
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("by cursor = %v; want %v", got, tt.want)
				}
				// By offset, 5 at a time.
				got = nil
				for offset := int64(0); ; offset += 5 {
					page, err := db.ListDomains(ctx, alice, c.ID, tt.f, domainflow.PageRequest{Limit: 5, Offset: offset, After: -1})
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range page.Items {
						got = append(got, d.OffsetIndex)
					}
					if !page.HasMore {
						break
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("by offset = %v; want %v", got, tt.want)
				}
			})
		}

		page, _ := db.ListDomains(ctx, alice, c.ID, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 3, Offset: 2, After: -1})
		d := page.Items[0]
		if d.OffsetIndex != 2 || d.Name != "d00002.com" || d.HTTPResult == nil || d.HTTPResult.Title != "T" ||
			d.DNSResult.Addresses[0] != "127.0.0.1" || d.LeadScore != 70 || d.LeadStatus() != "match" || d.GeneratedAt.IsZero() {
			t.Errorf("row 2 = %+v", d)
		}
		if page.Items[1].HTTPStatus() != "pending" || page.Items[1].DNSStatus() != "ok" {
			t.Errorf("row 3 statuses = %s/%s", page.Items[1].DNSStatus(), page.Items[1].HTTPStatus())
		}
	})
}

// Pages are read in a snapshot that a writer's open transaction neither
// blocks nor shows: on SQLite, a read transaction that took the write lock
// would wait out the busy timeout and fail.
func TestPagesAreReadBesideAnOpenWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		c := newCampaign(t, db, alice)
		if _, _, err := db.InsertDomains(ctx, alice, c.ID, domains(c.ID, 0, 10)); err != nil {
			t.Fatal(err)
		}
		before, err := db.GetCampaign(ctx, alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}

		// What a write of the engine does, left open: rows and tallies.
		w, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Rollback()
		for _, stmt := range []string{
			"DELETE FROM domains WHERE offset_index >= 5",
			"UPDATE campaigns SET domains_generated = 5, version = version + 1",
		} {
			if _, err := w.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}

		all := domainflow.DomainFilter{}
		first := domainflow.PageRequest{Limit: 100, After: -1}
		page, err := db.ListDomains(ctx, alice, c.ID, all, first)
		if err != nil {
			t.Fatalf("ListDomains beside an open write: %v", err)
		}
		if page.Campaign.Version != before.Version || page.Total != 10 || len(page.Items) != 10 {
			t.Errorf("ListDomains beside an open write: version %d, total %d, %d items; want %d, 10, 10 (nothing uncommitted)",
				page.Campaign.Version, page.Total, len(page.Items), before.Version)
		}
		pages, err := db.DomainPages(ctx, alice, []uuid.UUID{c.ID}, all, first)
		if err != nil || len(pages) != 1 || len(pages[0].Items) != 10 {
			t.Errorf("DomainPages beside an open write: %d pages, %v; want one of 10 items", len(pages), err)
		}
		list, err := db.ListCampaigns(ctx, alice, "", 10, 0)
		if err != nil || list.Total != 1 || len(list.Items) != 1 || list.Items[0].Version != before.Version {
			t.Errorf("ListCampaigns beside an open write: %+v, %v", list, err)
		}

		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		page, err = db.ListDomains(ctx, alice, c.ID, all, first)
		if err != nil || page.Campaign.Version != before.Version+1 || page.Total != 5 || len(page.Items) != 5 {
			t.Errorf("ListDomains after the write: %+v, %v; want version %d and 5 rows", page, err, before.Version+1)
		}
		state, err := db.CampaignListState(ctx, alice, "")
		if err != nil {
			t.Fatal(err)
		}
		if after, err := db.ListCampaigns(ctx, alice, "", 10, 0); err != nil || after.State != state || after.State == list.State {
			t.Errorf("list state after the write: %q alone, %+v with the page (%v); %q before it", state, after, err, list.State)
		}
	})
}

func TestProxies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		p := &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128, Username: "u", Password: "secret", Enabled: true}
		if err := db.CreateProxy(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetProxy(ctx, alice, p.ID)
		if err != nil || got.Password != "secret" || got.Health != "unknown" {
			t.Fatalf("GetProxy = %+v, %v", got, err)
		}
		if _, err := db.GetProxy(ctx, bob, p.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob GetProxy error = %v", err)
		}
		got.Port, got.Enabled = 8080, false
		if err := db.UpdateProxy(ctx, got); err != nil {
			t.Fatal(err)
		}
		got.UserID = bob
		if err := db.UpdateProxy(ctx, got); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob UpdateProxy error = %v", err)
		}
		list, _ := db.ListProxies(ctx, alice)
		if len(list) != 1 || list[0].Port != 8080 || list[0].Enabled {
			t.Errorf("ListProxies = %+v", list)
		}
		other := uuid.New()
		missing, err := db.MissingProxies(ctx, bob, []uuid.UUID{p.ID, other})
		if err != nil || !slices.Equal(missing, []uuid.UUID{p.ID, other}) {
			t.Errorf("bob MissingProxies = %v, %v", missing, err)
		}
		if missing, _ := db.MissingProxies(ctx, alice, []uuid.UUID{p.ID}); len(missing) != 0 {
			t.Errorf("alice MissingProxies = %v", missing)
		}
		if err := db.DeleteProxy(ctx, bob, p.ID); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob DeleteProxy error = %v", err)
		}
		if err := db.DeleteProxy(ctx, alice, p.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpenRefusesUnknownScheme(t *testing.T) {
	_, err := store.Open(ctx, "mysql://x", nil)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Open(mysql://) error = %v", err)
	}
}

// SetProxyHealth writes a check's health and nothing else, and only while
// the proxy is what was checked: what the health check (engine) and the
// proxy test (server) found never undoes an edit made during the check.
func TestSetProxyHealth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		cases := []struct {
			name  string
			edit  func(p *domainflow.Proxy) // made between the read and the health write
			wrote bool
		}{
			{"no edit", func(*domainflow.Proxy) {}, true},
			{"renamed and disabled", func(p *domainflow.Proxy) { p.Name, p.Enabled = "renamed", false }, true},
			{"moved to another host", func(p *domainflow.Proxy) { p.Host = "10.0.0.1" }, false},
			{"moved to another port", func(p *domainflow.Proxy) { p.Port = 3129 }, false},
			{"another protocol", func(p *domainflow.Proxy) { p.Protocol = "socks5" }, false},
			{"another username", func(p *domainflow.Proxy) { p.Username = "v" }, false},
			{"another password", func(p *domainflow.Proxy) { p.Password = "other" }, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128, Username: "u", Password: "secret", Enabled: true}
				if err := db.CreateProxy(ctx, p); err != nil {
					t.Fatal(err)
				}
				checked, err := db.GetProxy(ctx, alice, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				edited := *checked
				tc.edit(&edited)
				if err := db.UpdateProxy(ctx, &edited); err != nil {
					t.Fatal(err)
				}
				checked.RecordCheck(12.5, nil)
				wrote, err := db.SetProxyHealth(ctx, checked)
				if err != nil || wrote != tc.wrote {
					t.Fatalf("SetProxyHealth = %v, %v; want %v, nil", wrote, err, tc.wrote)
				}
				got, err := db.GetProxy(ctx, alice, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != edited.Name || got.Enabled != edited.Enabled || got.Host != edited.Host || got.Port != edited.Port ||
					got.Protocol != edited.Protocol || got.Username != edited.Username || got.Password != edited.Password {
					t.Errorf("after SetProxyHealth the proxy is %+v; the edit %+v was undone", got, edited)
				}
				if tc.wrote {
					if got.Health != domainflow.HealthHealthy || got.LatencyMS == nil || *got.LatencyMS != 12.5 || got.LastCheckedAt == nil ||
						!got.LastCheckedAt.Equal(*checked.LastCheckedAt) {
						t.Errorf("health written = %s, %v, %v; want healthy, 12.5, %v", got.Health, got.LatencyMS, got.LastCheckedAt, checked.LastCheckedAt)
					}
				} else if got.Health != domainflow.HealthUnknown || got.LastCheckedAt != nil {
					t.Errorf("health of a changed proxy = %s at %v; want unknown, never checked", got.Health, got.LastCheckedAt)
				}
			})
		}

		// Someone else's proxy, or one deleted during the check: nothing.
		p := &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128, Enabled: true}
		if err := db.CreateProxy(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.RecordCheck(0, errors.New("refused"))
		theirs := *p
		theirs.UserID = bob
		if wrote, err := db.SetProxyHealth(ctx, &theirs); wrote || err != nil {
			t.Errorf("SetProxyHealth of another user's proxy = %v, %v; want false, nil", wrote, err)
		}
		if err := db.DeleteProxy(ctx, alice, p.ID); err != nil {
			t.Fatal(err)
		}
		if wrote, err := db.SetProxyHealth(ctx, p); wrote || err != nil {
			t.Errorf("SetProxyHealth of a deleted proxy = %v, %v; want false, nil", wrote, err)
		}
	})
}
