package tests

import (
	"slices"
	"testing"
	"time"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store"
)

// TestCampaignRidesOutDatabaseBlips takes the database down four times for
// 3 s while a campaign runs: each time the campaign goes on within seconds
// of the database's return (a retry's pause grows with the failures in a
// row, not with every failure of the campaign's life), and it completes
// exactly.
func TestCampaignRidesOutDatabaseBlips(t *testing.T) {
	t.Parallel()
	pg := newPGCluster(t)
	ctx := testCtx(t)
	s := newServerOn(t, store.Postgres, pg.URL(), slices.Clone(engineFlags))
	alice := s.newUser(t, "alice")
	dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
	create := bigNXCreate("through blips", "blip", dnsSrv.Addr, 80)
	create.AutoStart = ptr(true)
	r, err := alice.api().CreateCampaignWithResponse(ctx, create)
	mustStatus(t, "create", r, err, 201)
	id := r.JSON201.Id

	last := alice.waitFor(ctx, t, id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) > 0 })
	for blip := 1; blip <= 4; blip++ {
		pg.stop(t)
		time.Sleep(3 * time.Second) // the outage itself
		pg.start(t)
		back := time.Now()
		before := last.Progress.Processed
		last = alice.waitFor(ctx, t, id, 15*time.Second, "progress within 15 s of the database's return", func(s api.StatusSummary) bool {
			return s.Progress.Processed > before || completed(s)
		})
		t.Logf("blip %d: the campaign went on %v after the database came back", blip, time.Since(back).Round(time.Millisecond))
		if completed(last) {
			t.Fatalf("the campaign completed after blip %d: the test needs it to run through all four", blip)
		}
	}
	sum := alice.waitFor(ctx, t, id, 60*time.Second, "completion", completed)
	checkSummary(t, "campaign through four blips", sum, nxTally(2000))
	checkRows(ctx, t, s, id, 2000, sum)
}
