package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

func TestTransitionFollowsTheStateMachine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		c := newCampaign(t, db, alice)
		steps := []struct {
			action domainflow.Action
			want   domainflow.CampaignStatus // "" means refused with conflict
		}{
			{domainflow.ActionPause, ""},
			{domainflow.ActionResume, ""},
			{domainflow.ActionStart, domainflow.StatusQueued},
			{domainflow.ActionStart, ""},
			{domainflow.ActionPause, domainflow.StatusPaused},
			{domainflow.ActionPause, ""},
			{domainflow.ActionResume, domainflow.StatusQueued},
			{domainflow.ActionCancel, domainflow.StatusCancelled},
			{domainflow.ActionResume, ""},
			{domainflow.ActionCancel, ""},
		}
		version := c.Version
		for i, s := range steps {
			got, err := db.Transition(ctx, alice, c.ID, s.action)
			if s.want == "" {
				if code(err) != domainflow.ECONFLICT {
					t.Fatalf("step %d: %s error = %v; want conflict", i, s.action, err)
				}
				continue
			}
			if err != nil || got.Status != s.want {
				t.Fatalf("step %d: %s = %v, %v; want %s", i, s.action, got, err, s.want)
			}
			if got.Version <= version {
				t.Fatalf("step %d: version %d did not move past %d", i, got.Version, version)
			}
			version = got.Version
		}
		if _, err := db.Transition(ctx, bob, c.ID, domainflow.ActionStart); code(err) != domainflow.ENOTFOUND {
			t.Fatalf("bob's transition error = %v; want not_found", err)
		}
	})
}

func TestRecordCountsEachDomainOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		c := newCampaign(t, db, alice)
		rows := make([]domainflow.Domain, 6)
		for i := range rows {
			rows[i] = domainflow.Domain{OffsetIndex: int64(i), Name: string(rune('a'+i)) + ".com", TLD: ".com"}
		}
		if _, _, err := db.InsertDomains(ctx, alice, c.ID, rows); err != nil {
			t.Fatal(err)
		}
		// Each phase's outcomes are made by the domain-state rules from the
		// pending work the store hands out, as the engine makes them.
		pending := func(phase domainflow.Phase, want int) []domainflow.PendingDomain {
			t.Helper()
			work, err := db.PendingWork(ctx, alice, c.ID, phase, -1, 10)
			if err != nil || len(work) != want {
				t.Fatalf("PendingWork(%s) = %+v, %v; want %d rows", phase, work, err, want)
			}
			return work
		}
		var dns []domainflow.DomainOutcome
		for _, w := range pending(domainflow.PhaseDNS, 6) {
			res := domainflow.DNSResult{Status: "ok", Addresses: []string{"127.0.0.1"}}
			if w.OffsetIndex == 3 || w.OffsetIndex == 4 {
				res = domainflow.DNSResult{Status: "error", Reason: "nxdomain"}
			}
			dns = append(dns, w.DNSChecked(res, 1))
		}
		if _, _, err := db.Record(ctx, bob, c.ID, domainflow.PhaseDNS, dns); code(err) != domainflow.ENOTFOUND {
			t.Fatalf("bob's Record error = %v", err)
		}
		n, _, err := db.Record(ctx, alice, c.ID, domainflow.PhaseDNS, dns)
		if err != nil || n != 6 {
			t.Fatalf("Record = %d, %v", n, err)
		}
		// A rescued step writes the same batch again: nothing moves.
		if n, _, err := db.Record(ctx, alice, c.ID, domainflow.PhaseDNS, dns); err != nil || n != 0 {
			t.Fatalf("second Record = %d, %v; want 0 written", n, err)
		}
		work := pending(domainflow.PhaseHTTP, 4)
		if work[0].DNSResult == nil || work[0].DNSResult.Addresses[0] != "127.0.0.1" ||
			work[0].States != (domainflow.States{Overall: domainflow.StateValidated, DNS: domainflow.StateValidated}) {
			t.Fatalf("PendingWork(http) = %+v", work)
		}
		if after, _ := db.PendingWork(ctx, alice, c.ID, domainflow.PhaseHTTP, 1, 10); len(after) != 2 || after[0].OffsetIndex != 2 {
			t.Fatalf("PendingWork(http, after 1) = %+v; want rows 2 and 5", after)
		}
		var fetched []domainflow.DomainOutcome
		for _, w := range work {
			res := map[int64]domainflow.HTTPResult{
				0: {Status: "ok", StatusCode: 200, Title: "A", KeywordsFound: []string{"widgets", "pricing"}}, // 70
				1: {Status: "ok", StatusCode: 500},                                                            // 0
				2: {Status: "ok", StatusCode: 200, Title: "C", KeywordsFound: []string{"widgets"}},            // 55
				5: {Status: "timeout"},
			}[w.OffsetIndex]
			fetched = append(fetched, w.HTTPChecked(res))
		}
		if _, _, err := db.Record(ctx, alice, c.ID, domainflow.PhaseHTTP, fetched); err != nil {
			t.Fatal(err)
		}
		cfg := c.Config
		cfg.HTTP.Keywords, cfg.Analysis.MinLeadScore = []string{"widgets", "pricing"}, 40
		var scored []domainflow.DomainOutcome
		for _, w := range pending(domainflow.PhaseAnalysis, 4) {
			scored = append(scored, w.Scored(cfg))
		}
		if _, _, err := db.Record(ctx, alice, c.ID, domainflow.PhaseAnalysis, scored); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetCampaign(ctx, alice, c.ID)
		want := domainflow.Counts{Generated: 6, Validated: 2, Failed: 4, DNSOK: 4, DNSFailed: 2,
			HTTPOK: 3, HTTPFailed: 1, HTTPSkipped: 2, LeadMatch: 2, LeadNoMatch: 4}
		if got.Counts != want {
			t.Fatalf("counts = %+v; want %+v", got.Counts, want)
		}
		// The tallies agree with the rows.
		for _, f := range []domainflow.DomainFilter{{Status: "failed"}, {Status: "validated"}, {Status: "validated", Phase: "analysis"}, {Status: "failed", Phase: "http"}} {
			page, err := db.ListDomains(ctx, alice, got.ID, domainflow.DomainFilter{Q: ".", Status: f.Status, Phase: f.Phase}, domainflow.PageRequest{Limit: 10, After: -1})
			if err != nil || page.Total != got.Counts.Matching(f) || int64(len(page.Items)) != page.Total {
				t.Errorf("filter %+v: %d rows, total %d; tallies say %d (%v)", f, len(page.Items), page.Total, got.Counts.Matching(f), err)
			}
		}
		page, _ := db.ListDomains(ctx, alice, got.ID, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 10, After: -1})
		if d := page.Items[0]; d.LeadScore != 70 || d.LeadStatus() != "match" || d.HTTPResult.StatusCode != 200 || d.DNSResult.Addresses[0] != "127.0.0.1" ||
			d.LeadResult == nil || len(d.LeadResult.Breakdown) != 4 || d.LeadResult.Breakdown[3] != (domainflow.ScorePart{Reason: "keyword:pricing", Points: 15}) {
			t.Errorf("row 0 = %+v (lead %+v)", d, d.LeadResult)
		}
		if d := page.Items[3]; d.DNSStatus() != "error" || d.HTTPStatus() != "skipped" || d.LeadStatus() != "no_match" {
			t.Errorf("row 3 statuses = %s/%s/%s", d.DNSStatus(), d.HTTPStatus(), d.LeadStatus())
		}
	})
}

// The store's SQL for "still to do in this phase" is the root package's
// rule, States.PendingIn, for every combination of states a row can have.
func TestPendingWorkIsPendingIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		c := newCampaign(t, db, alice)
		all := []domainflow.State{domainflow.StatePending, domainflow.StateValidated, domainflow.StateFailed, domainflow.StateSkipped}
		var rows []domainflow.Domain
		for _, o := range all {
			for _, d := range all {
				for _, h := range all {
					for _, l := range all {
						i := int64(len(rows))
						rows = append(rows, domainflow.Domain{OffsetIndex: i, Name: fmt.Sprintf("n%d.test", i), TLD: ".test",
							State: o, DNSState: d, HTTPState: h, LeadState: l})
					}
				}
			}
		}
		if _, _, err := db.InsertDomains(ctx, alice, c.ID, rows); err != nil {
			t.Fatal(err)
		}
		for _, phase := range []domainflow.Phase{domainflow.PhaseDNS, domainflow.PhaseHTTP, domainflow.PhaseAnalysis} {
			work, err := db.PendingWork(ctx, alice, c.ID, phase, -1, len(rows))
			if err != nil {
				t.Fatal(err)
			}
			var got, want []int64
			for _, w := range work {
				got = append(got, w.OffsetIndex)
			}
			for _, r := range rows {
				if (domainflow.States{Overall: r.State, DNS: r.DNSState, HTTP: r.HTTPState, Lead: r.LeadState}).PendingIn(phase) {
					want = append(want, r.OffsetIndex)
				}
			}
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("%s: PendingWork gives %d rows %v; PendingIn says %d rows %v", phase, len(got), got, len(want), want)
			}
		}
	})
}
