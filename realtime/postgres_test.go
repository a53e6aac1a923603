package realtime_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/realtime"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// TestPostgresBus runs two instances, each a hub with its own PostgresBus on
// one database: a client on either receives what is published on the other.
func TestPostgresBus(t *testing.T) {
	url := storetest.URL(t, store.Postgres)
	ctx := context.Background()
	newBus := func() *realtime.PostgresBus {
		b, err := realtime.NewPostgresBus(ctx, url, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() }) // after the hub's Close (cleanups run last first)
		return b
	}
	w := newWorld()
	alice := w.user("tok-alice")
	w.user("tok-bob")
	cfgA, cfgB := w.config(), w.config()
	cfgA.Bus, cfgB.Bus = newBus(), newBus()
	a, b := start(t, cfgA), start(t, cfgB)

	onA := read(t, a.dial(t, "tok-alice", 1))
	onB := read(t, b.dial(t, "tok-alice", 1))
	bobOnB := read(t, b.dial(t, "tok-bob", 2))

	c := &domainflow.Campaign{ID: uuid.New(), UserID: alice, Status: domainflow.StatusRunning,
		CurrentPhase: domainflow.PhaseDNS, TotalDomains: 100}
	publish(t, a.hub, domainflow.Event{Type: domainflow.EventPhaseTransition, UserID: alice, CampaignID: &c.ID,
		Data: map[string]string{"from": "generation", "to": "dns"}})
	for i := 1; i <= 100; i++ {
		c.Counts = domainflow.Counts{Generated: 100, DNSOK: int64(i)}
		publish(t, a.hub, domainflow.ProgressEvent(c))
	}
	publish(t, a.hub, domainflow.Event{Type: domainflow.EventCampaignCompleted, UserID: alice, CampaignID: &c.ID,
		Data: map[string]string{"status": "completed"}})

	// Both instances deliver, the publisher's own through its LISTEN too,
	// in order and with the last progress before the completion.
	for name, r := range map[string]*reader{"A": onA, "B": onB} {
		e := r.next(t)
		if e.Type != domainflow.EventPhaseTransition || *e.CampaignID != c.ID || e.Seq != 1 {
			t.Fatalf("%s: first %s", name, e.raw)
		}
		var last domainflow.CampaignProgressData
		for e = r.next(t); e.Type == domainflow.EventCampaignProgress; e = r.next(t) {
			last = decode[domainflow.CampaignProgressData](t, e.Data)
		}
		if e.Type != domainflow.EventCampaignCompleted || last.DNS.Validated != 100 {
			t.Errorf("%s: ended with %s after progress %+v", name, e.raw, last)
		}
	}

	// Too big for NOTIFY: refused at once.
	err := a.hub.Publish(notification(alice, strings.Repeat("x", 8000)))
	if domainflow.ErrorCode(err) != domainflow.EINVALID {
		t.Errorf("Publish of a 8 kB event = %v", err)
	}

	// Kill the listening connections: the buses reconnect and events flow
	// again (those notified during the gap are lost).
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	err = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'domainflow events listener'`).Scan(&killed)
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for got := false; !got; {
		if time.Now().After(deadline) {
			t.Fatal("no event after the listener was killed")
		}
		publish(t, b.hub, notification(alice, "after reconnect"))
		select {
		case e := <-onA.msgs:
			got = noteText(t, e) == "after reconnect"
		case <-time.After(200 * time.Millisecond):
		}
	}
	bobOnB.none(t, 100*time.Millisecond)
}
