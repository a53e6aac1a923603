package tests

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store"
)

// freeAddr returns a loopback address no one listens on now, for a server
// that must keep its address (its instance id) across restarts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTakeoverAfterKill kills the instance working three campaigns and
// starts another one on the same PostgreSQL database, with the default
// takeover settings: the campaigns continue there within 30 s of the kill,
// show as stalled while they wait (the new instance works one campaign at
// a time, so two of them wait at least a step), and complete exactly.
func TestTakeoverAfterKill(t *testing.T) {
	t.Parallel()
	takeFirst(t, store.Postgres, 2)
	a := startServer(t, store.Postgres, append(slices.Clone(engineFlags), "--step-time", "1s")...)
	ctx := testCtx(t)
	alice := a.newUser(t, "alice")

	type camp struct {
		id    uuid.UUID
		names []string
		wants []wantDomain
	}
	constants := []string{"echo", "foxtrot", "golf"}
	var camps []camp
	var allRules []map[string]dnsAction
	for _, constant := range constants {
		names := namesOf(t, prefixGen(constant, "abcdefghij", 3, []string{".test"}, 1000))
		rules, wants := uniformPlan(names, 5)
		allRules = append(allRules, rules)
		camps = append(camps, camp{names: names, wants: wants})
	}
	dnsSrv := startDNS(t, 0, ruleOf(allRules...))
	web := startWeb(t, htmlPage(200, "Shop", "widgets"))
	for i, constant := range constants {
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: constant, Generation: prefixGen(constant, "abcdefghij", 3, []string{".test"}, 1000), AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(500), Retries: ptr(0), Concurrency: ptr(20), RateLimitQps: ptr(100)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000)},
		})
		mustStatus(t, "create "+constant, cr, err, 201)
		camps[i].id = cr.JSON201.Id
	}
	for _, c := range camps {
		alice.waitFor(ctx, t, c.id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) > 0 })
	}
	// Steps left running by the dead process are what is taken over: a
	// kill between steps would prove nothing (their jobs just wait), so
	// kill again (at most 5 times) until one was cut off.
	for attempt := 1; ; attempt++ {
		waitStepRunning(ctx, t, a)
		a.kill(t)
		var running int64
		for _, c := range camps {
			running += stepsRunning(ctx, t, a, c.id)
		}
		if running > 0 {
			break
		}
		if attempt == 5 {
			t.Fatal("5 kills in a row left no step running: the test proves nothing")
		}
		a.launch(t)
	}
	killedAt := time.Now()
	atKill := map[uuid.UUID]int64{}
	for _, c := range camps {
		got, err := a.DB(t).GetCampaign(ctx, alice.ID, c.id)
		if err != nil {
			t.Fatal(err)
		}
		atKill[c.id], _, _ = got.Progress()
	}

	b := a.peer(t, append(slices.Clone(engineFlags), "--step-time", "1s", "--campaign-workers", "1")...)
	viaB := *alice
	viaB.srv = b
	// Watch every campaign until each has moved on: when it moved, and
	// whether it showed as stalled before.
	movedAfter := map[uuid.UUID]time.Duration{}
	stalled := map[uuid.UUID]bool{}
	for deadline := killedAt.Add(30 * time.Second); len(movedAfter) < len(camps); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the kill only %d of %d campaigns moved on (%v)", len(movedAfter), len(camps), movedAfter)
		}
		for _, c := range camps {
			if _, ok := movedAfter[c.id]; ok {
				continue
			}
			r, err := viaB.api().GetCampaignWithResponse(ctx, c.id, nil)
			mustStatus(t, "get a campaign", r, err, 200)
			if r.JSON200.StalledSince != nil {
				stalled[c.id] = true
				if r.JSON200.Status != api.CampaignStatusRunning {
					t.Errorf("campaign %s is %q with stalled_since set", c.id, r.JSON200.Status)
				}
			}
			if sum := viaB.summary(ctx, t, c.id); sum.Progress.Processed > atKill[c.id] || completed(sum) {
				movedAfter[c.id] = time.Since(killedAt)
			}
		}
	}
	t.Logf("after the kill, the campaigns moved on after %v; seen stalled: %v", movedAfter, stalled)
	if len(stalled) == 0 {
		t.Errorf("no campaign showed stalled_since while it waited to be taken over")
	}
	for _, c := range camps {
		sum := viaB.waitFor(ctx, t, c.id, 90*time.Second, "completion after the takeover", completed)
		checkSummary(t, "campaign finished by the second instance", sum, tallyOf(c.wants))
		checkRows(ctx, t, b, c.id, int64(len(c.names)), sum)
		r, err := viaB.api().GetCampaignWithResponse(ctx, c.id, nil)
		mustStatus(t, "get a completed campaign", r, err, 200)
		if r.JSON200.StalledSince != nil {
			t.Errorf("completed campaign %s still has stalled_since %v", c.id, r.JSON200.StalledSince)
		}
	}
}
