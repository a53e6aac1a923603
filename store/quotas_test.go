package store_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// campaignOf is a campaign of total domains in status, not stored yet.
func campaignOf(userID uuid.UUID, total int64, status domainflow.CampaignStatus) *domainflow.Campaign {
	return &domainflow.Campaign{
		UserID: userID, Name: "c", Status: status, TotalDomains: total,
		Config: domainflow.CampaignConfig{
			Generation: domainflow.GenerationConfig{PatternType: "prefix", CharacterSet: "ab", VariableLength: 2, TLDs: []string{".com"}, MaxDomains: total},
			DNS:        domainflow.DefaultDNSConfig(), HTTP: domainflow.DefaultHTTPConfig(), Analysis: domainflow.DefaultAnalysisConfig(),
		},
	}
}

func usage(t *testing.T, db *store.DB, userID uuid.UUID) domainflow.Usage {
	t.Helper()
	u, err := db.Usage(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func countCampaigns(t *testing.T, db *store.DB, userID uuid.UUID) int64 {
	t.Helper()
	page, err := db.ListCampaigns(ctx, userID, "", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

// The sum of total_domains over a user's campaigns — drafts and ended ones
// too — is held to StoredDomains at create and at start; another user's
// campaigns do not count, and a deleted campaign makes room.
func TestQuotaStoredDomains(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		q := domainflow.Quotas{StoredDomains: 250}
		var made []*domainflow.Campaign
		for range 2 {
			c := campaignOf(alice, 100, domainflow.StatusDraft)
			if err := db.CreateCampaignWithin(ctx, c, q); err != nil {
				t.Fatalf("create within the quota: %v", err)
			}
			made = append(made, c)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(alice, 51, domainflow.StatusDraft), q); code(err) != domainflow.EQUOTASTORED {
			t.Fatalf("create past the quota: error %v, want %s", err, domainflow.EQUOTASTORED)
		}
		if n := countCampaigns(t, db, alice); n != 2 {
			t.Errorf("a refused create stored a campaign: %d campaigns, want 2", n)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(alice, 50, domainflow.StatusDraft), q); err != nil {
			t.Fatalf("create up to the quota exactly: %v", err)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(bob, 250, domainflow.StatusDraft), q); err != nil {
			t.Fatalf("bob's create counts alice's campaigns: %v", err)
		}
		if u := usage(t, db, alice); u.StoredDomains != 250 || u.RunningCampaigns != 0 {
			t.Errorf("alice's usage %+v, want 250 stored domains and nothing running", u)
		}

		// An ended campaign still holds its domains; deleting it frees them.
		if _, err := db.Transition(ctx, alice, made[0].ID, domainflow.ActionCancel); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(alice, 1, domainflow.StatusDraft), q); code(err) != domainflow.EQUOTASTORED {
			t.Fatalf("create beside a cancelled campaign: error %v, want %s", err, domainflow.EQUOTASTORED)
		}
		if err := db.DeleteCampaign(ctx, alice, made[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(alice, 100, domainflow.StatusDraft), q); err != nil {
			t.Fatalf("create after a delete made room: %v", err)
		}

		// Lowered since the drafts were made: they cannot start.
		lower := domainflow.Quotas{StoredDomains: 200}
		before, _ := db.GetCampaign(ctx, alice, made[1].ID)
		if _, err := db.TransitionWithin(ctx, alice, made[1].ID, domainflow.ActionStart, lower); code(err) != domainflow.EQUOTASTORED {
			t.Fatalf("start past a lowered quota: error %v, want %s", err, domainflow.EQUOTASTORED)
		}
		after, _ := db.GetCampaign(ctx, alice, made[1].ID)
		if after.Status != domainflow.StatusDraft || after.Version != before.Version {
			t.Errorf("a refused start moved the campaign: %s version %d, was %s version %d", after.Status, after.Version, before.Status, before.Version)
		}
		if _, err := db.TransitionWithin(ctx, alice, made[1].ID, domainflow.ActionStart, q); err != nil {
			t.Errorf("start within the quota: %v", err)
		}
	})
}

// RunningCampaigns counts queued and running campaigns: a start, a resume
// or a create that queues past it is refused and changes nothing; a
// paused campaign makes room. A call the status does not allow, or on a
// campaign that is not the user's, answers as without quotas.
func TestQuotaRunningCampaigns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		q := domainflow.Quotas{RunningCampaigns: 2}
		var queued []*domainflow.Campaign
		for range 2 {
			c := campaignOf(alice, 10, domainflow.StatusQueued)
			if err := db.CreateCampaignWithin(ctx, c, q); err != nil {
				t.Fatalf("create queued within the quota: %v", err)
			}
			queued = append(queued, c)
		}
		if err := db.CreateCampaignWithin(ctx, campaignOf(alice, 10, domainflow.StatusQueued), q); code(err) != domainflow.EQUOTARUNNING {
			t.Fatalf("create queued past the quota: error %v, want %s", err, domainflow.EQUOTARUNNING)
		}
		if n := countCampaigns(t, db, alice); n != 2 {
			t.Errorf("a refused create stored a campaign: %d campaigns, want 2", n)
		}
		draft := campaignOf(alice, 10, domainflow.StatusDraft)
		if err := db.CreateCampaignWithin(ctx, draft, q); err != nil {
			t.Fatalf("a draft does not run: %v", err)
		}
		// The engine's own moves (queued → running) change nothing.
		if moved, err := db.Advance(ctx, alice, queued[0].ID, []domainflow.CampaignStatus{domainflow.StatusQueued},
			domainflow.CampaignMove{Status: domainflow.StatusRunning}); err != nil || !moved {
			t.Fatalf("advance to running: %v, %v", moved, err)
		}
		if _, err := db.TransitionWithin(ctx, alice, draft.ID, domainflow.ActionStart, q); code(err) != domainflow.EQUOTARUNNING {
			t.Fatalf("start past the quota: error %v, want %s", err, domainflow.EQUOTARUNNING)
		}
		if got, _ := db.GetCampaign(ctx, alice, draft.ID); got.Status != domainflow.StatusDraft || got.Version != draft.Version {
			t.Errorf("a refused start moved the campaign: %s version %d", got.Status, got.Version)
		}
		if _, err := db.TransitionWithin(ctx, alice, queued[0].ID, domainflow.ActionStart, q); code(err) != domainflow.ECONFLICT {
			t.Errorf("start of a running campaign at the quota: error %v, want conflict", err)
		}
		if _, err := db.TransitionWithin(ctx, bob, draft.ID, domainflow.ActionStart, q); code(err) != domainflow.ENOTFOUND {
			t.Errorf("bob starting alice's campaign: error %v, want not_found", err)
		}
		if u := usage(t, db, alice); u.RunningCampaigns != 2 {
			t.Errorf("alice's usage %+v, want 2 running", u)
		}

		// Pause one: the draft starts; the paused one cannot resume.
		if _, err := db.TransitionWithin(ctx, alice, queued[0].ID, domainflow.ActionPause, q); err != nil {
			t.Fatal(err)
		}
		if _, err := db.TransitionWithin(ctx, alice, draft.ID, domainflow.ActionStart, q); err != nil {
			t.Fatalf("start after a pause made room: %v", err)
		}
		if _, err := db.TransitionWithin(ctx, alice, queued[0].ID, domainflow.ActionResume, q); code(err) != domainflow.EQUOTARUNNING {
			t.Fatalf("resume past the quota: error %v, want %s", err, domainflow.EQUOTARUNNING)
		}
		// Bob has room of his own.
		if err := db.CreateCampaignWithin(ctx, campaignOf(bob, 10, domainflow.StatusQueued), q); err != nil {
			t.Errorf("bob's create counts alice's campaigns: %v", err)
		}
	})
}

// Calls of one user at the same moment are checked one after the other:
// of many concurrent starts, creates or proxies at a quota, exactly as many
// as it allows pass.
func TestQuotaConcurrentCallsAtTheLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		const n = 12
		q := domainflow.Quotas{RunningCampaigns: 3, StoredDomains: 5 * 10 * 100, Proxies: 4}
		drafts := make([]*domainflow.Campaign, n)
		for i := range drafts {
			drafts[i] = campaignOf(alice, 100, domainflow.StatusDraft)
			if err := db.CreateCampaign(ctx, drafts[i]); err != nil {
				t.Fatal(err)
			}
		}
		passed := func(what, quota string, call func(i int) error) int {
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { errs[i] = call(i) })
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch code(err) {
				case "":
					ok++
				case quota:
				default:
					t.Errorf("%s: error %v, want nil or %s", what, err, quota)
				}
			}
			return ok
		}
		if got := passed("start", domainflow.EQUOTARUNNING, func(i int) error {
			_, err := db.TransitionWithin(ctx, alice, drafts[i].ID, domainflow.ActionStart, q)
			return err
		}); got != 3 {
			t.Errorf("%d concurrent starts at a quota of 3 running: %d passed", n, got)
		}
		if u := usage(t, db, alice); u.RunningCampaigns != 3 {
			t.Errorf("running campaigns %d, want 3", u.RunningCampaigns)
		}
		// 12 drafts of 100 hold 1,200 of 5,000: room for 38 more of 100.
		if got := passed("create", domainflow.EQUOTASTORED, func(int) error {
			return db.CreateCampaignWithin(ctx, campaignOf(alice, 340, domainflow.StatusDraft), q)
		}); got != 11 {
			t.Errorf("%d concurrent creates of 340 domains with room for 3,800: %d passed, want 11", n, got)
		}
		if u := usage(t, db, alice); u.StoredDomains != 1200+11*340 {
			t.Errorf("stored domains %d, want %d", u.StoredDomains, 1200+11*340)
		}
		if got := passed("proxy", domainflow.EQUOTAPROXIES, func(int) error {
			return db.CreateProxyWithin(ctx, &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128, Enabled: true}, q)
		}); got != 4 {
			t.Errorf("%d concurrent proxies at a quota of 4: %d passed", n, got)
		}
		if u := usage(t, db, alice); u.Proxies != 4 {
			t.Errorf("proxies %d, want 4", u.Proxies)
		}
	})
}
