package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// Every audited write records its event, under the actor of its context,
// in its own transaction; writes without an actor and refused calls record
// nothing.
func TestAuditTrail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice, bob := newUser(t, db, "alice"), newUser(t, db, "bob")
		actx := domainflow.WithActor(ctx, domainflow.Actor{UserID: alice, Address: "203.0.113.7"})
		bctx := domainflow.WithActor(ctx, domainflow.Actor{UserID: bob, Address: domainflow.AddressCLI})

		newCampaign(t, db, alice) // no actor: the engine's own work, say
		if _, err := db.CreateToken(actx, alice); err != nil {
			t.Fatal(err)
		}
		c := &domainflow.Campaign{UserID: alice, Name: "audited", Status: domainflow.StatusDraft, TotalDomains: 4}
		if err := db.CreateCampaign(actx, c); err != nil {
			t.Fatal(err)
		}
		for _, a := range []domainflow.Action{domainflow.ActionStart, domainflow.ActionPause, domainflow.ActionResume, domainflow.ActionCancel} {
			if _, err := db.Transition(actx, alice, c.ID, a); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
		}
		if _, err := db.Transition(actx, alice, c.ID, domainflow.ActionPause); code(err) != domainflow.ECONFLICT {
			t.Fatalf("pause of a cancelled campaign: %v", err)
		}
		if err := db.DeleteCampaign(actx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		p := &domainflow.Proxy{UserID: alice, Name: "px", Protocol: "http", Host: "127.0.0.1", Port: 3128, Password: "s3cret-pw"}
		if err := db.CreateProxy(actx, p); err != nil {
			t.Fatal(err)
		}
		p.Port, p.Password = 3129, "n3w-s3cret"
		if err := db.UpdateProxy(actx, p); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteProxy(actx, alice, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteProxy(actx, alice, p.ID); code(err) != domainflow.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
		bp := &domainflow.Proxy{UserID: bob, Name: "bob's", Protocol: "socks5", Host: "127.0.0.1", Port: 1080}
		if err := db.CreateProxy(bctx, bp); err != nil {
			t.Fatal(err)
		}

		page, err := db.ListAudit(ctx, domainflow.AuditQuery{UserID: alice, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		type want struct{ action, rtype, rid, detail string }
		wants := []want{ // newest first
			{domainflow.AuditProxyDeleted, "proxy", p.ID.String(), `{"name":"px"}`},
			{domainflow.AuditProxyUpdated, "proxy", p.ID.String(), `{"fields":["port","password"]}`},
			{domainflow.AuditProxyCreated, "proxy", p.ID.String(), `{"host":"127.0.0.1","name":"px","port":3128,"protocol":"http"}`},
			{domainflow.AuditCampaignDeleted, "campaign", c.ID.String(), `{"name":"audited"}`},
			{domainflow.AuditCampaignCancelled, "campaign", c.ID.String(), `{"status":"cancelled"}`},
			{domainflow.AuditCampaignResumed, "campaign", c.ID.String(), `{"status":"queued"}`},
			{domainflow.AuditCampaignPaused, "campaign", c.ID.String(), `{"status":"paused"}`},
			{domainflow.AuditCampaignStarted, "campaign", c.ID.String(), `{"status":"queued"}`},
			{domainflow.AuditCampaignCreated, "campaign", c.ID.String(), `{"name":"audited","total_domains":4}`},
			{domainflow.AuditTokenCreated, "token", "", `{"name":"default"}`},
		}
		if len(page.Items) != len(wants) || page.HasMore {
			t.Fatalf("alice has %d events (has_more %v); want %d: %+v", len(page.Items), page.HasMore, len(wants), page.Items)
		}
		for i, w := range wants {
			ev := page.Items[i]
			detail, _ := json.Marshal(ev.Detail)
			if ev.Action != w.action || ev.ResourceType != w.rtype || (w.rid != "" && ev.ResourceID != w.rid) || string(detail) != w.detail ||
				ev.UserID != alice || ev.UserName != "alice" || ev.Address != "203.0.113.7" || time.Since(ev.At) > time.Minute {
				t.Errorf("event %d = %+v (detail %s); want %+v by alice from 203.0.113.7", i, ev, detail, w)
			}
			if strings.Contains(string(detail), "s3cret") {
				t.Errorf("event %d holds a password: %s", i, detail)
			}
			if i > 0 && ev.ID >= page.Items[i-1].ID {
				t.Errorf("events not newest first: id %d after %d", ev.ID, page.Items[i-1].ID)
			}
		}
		if _, err := uuid.Parse(page.Items[len(wants)-1].ResourceID); err != nil {
			t.Errorf("token.created resource id %q is not the token's id", page.Items[len(wants)-1].ResourceID)
		}

		// Pages by cursor, by name, since a time.
		var got []int64
		for before := int64(0); ; {
			p, err := db.ListAudit(ctx, domainflow.AuditQuery{UserID: alice, Limit: 3, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range p.Items {
				got = append(got, ev.ID)
			}
			if !p.HasMore {
				break
			}
			before = p.Items[len(p.Items)-1].ID
		}
		if len(got) != len(wants) || !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) {
			t.Errorf("paging by 3 gave ids %v; want the %d events newest first", got, len(wants))
		}
		bobs, err := db.ListAudit(ctx, domainflow.AuditQuery{UserName: "bob", Limit: 10})
		if err != nil || len(bobs.Items) != 1 || bobs.Items[0].Action != domainflow.AuditProxyCreated || bobs.Items[0].Address != "cli" {
			t.Errorf("bob's events = %+v, %v", bobs, err)
		}
		if all, _ := db.ListAudit(ctx, domainflow.AuditQuery{Limit: 100}); len(all.Items) != len(wants)+1 {
			t.Errorf("every user's events: %d; want %d", len(all.Items), len(wants)+1)
		}
		if later, _ := db.ListAudit(ctx, domainflow.AuditQuery{Since: time.Now().Add(time.Hour), Limit: 10}); len(later.Items) != 0 {
			t.Errorf("events since an hour from now: %+v", later.Items)
		}
	})
}

// Events past the retention are pruned as new ones are written.
func TestAuditRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		alice := newUser(t, db, "alice")
		old := time.Now().Add(-domainflow.AuditRetention - time.Hour).UTC()
		recent := time.Now().Add(-domainflow.AuditRetention + time.Hour).UTC()
		for _, at := range []time.Time{old, old, recent} {
			if err := db.Gorm().Exec(`INSERT INTO audit_events (at, user_id, user_name, address, action, resource_type, resource_id)
				VALUES (?, ?, 'alice', 'cli', 'token.created', 'token', 'x')`, at, alice).Error; err != nil {
				t.Fatal(err)
			}
		}
		actx := domainflow.WithActor(ctx, domainflow.Actor{UserID: alice, Address: "cli"})
		if err := db.CreateProxy(actx, &domainflow.Proxy{UserID: alice, Name: "p", Protocol: "http", Host: "127.0.0.1", Port: 3128}); err != nil {
			t.Fatal(err)
		}
		page, err := db.ListAudit(ctx, domainflow.AuditQuery{UserID: alice, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 2 || page.Items[0].Action != domainflow.AuditProxyCreated || page.Items[1].At.Before(recent.Add(-time.Second)) {
			t.Errorf("after a write the trail is %+v; want the new event and the recent one, the expired two pruned", page.Items)
		}
		if err := db.CreateProxy(ctx, &domainflow.Proxy{UserID: alice, Name: "q", Protocol: "http", Host: "127.0.0.1", Port: 3129}); err != nil {
			t.Fatal(err)
		}
		if again, _ := db.ListAudit(ctx, domainflow.AuditQuery{UserID: alice, Limit: 10}); len(again.Items) != 2 {
			t.Errorf("a write without an actor recorded something: %+v", again.Items)
		}
	})
}
