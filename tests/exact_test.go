package tests

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// TestPauseAndCancelAreExact pauses and cancels campaigns while a batch is
// being checked (the DNS server holds its answers until the call has
// answered): from the call's answer on, nothing about the campaign changes —
// not its counts, not its ETag, not its rows — and the last event a
// WebSocket client got says exactly what the REST summary says.
func TestPauseAndCancelAreExact(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		ws := alice.connectWS(ctx, t, s)
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		for _, action := range []domainflow.Action{domainflow.ActionPause, domainflow.ActionCancel} {
			cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
				Name: string(action) + " mid-batch", AutoStart: ptr(true),
				Generation: prefixGen(string(action), "abcdefghij", 4, []string{".test"}, 4000),
				Dns:        &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(1500), Retries: ptr(0), Concurrency: ptr(50), RateLimitQps: ptr(400)},
			})
			mustStatus(t, "create", cr, err, 201)
			id := cr.JSON201.Id
			alice.waitFor(ctx, t, id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool {
				return s.Status == api.CampaignStatusRunning && dnsDone(s) >= 200
			})

			release := dnsSrv.hold()
			dnsSrv.waitHeld(t, 50)
			var r response
			if action == domainflow.ActionPause {
				r, err = alice.api().PauseCampaignWithResponse(ctx, id)
			} else {
				r, err = alice.api().CancelCampaignWithResponse(ctx, id)
			}
			mustStatus(t, string(action), r, err, 200)
			answered, err := alice.api().GetDomainStatusSummaryWithResponse(ctx, id, nil)
			mustStatus(t, "summary right after the "+string(action), answered, err, 200)
			release() // the checks in flight end now, after the call

			// Once the step that was running has ended, nothing moved.
			waitStepsEnded(ctx, t, s, id)
			later, err := alice.api().GetDomainStatusSummaryWithResponse(ctx, id, nil)
			mustStatus(t, "summary once the steps ended", later, err, 200)
			if got, want := mustJSON(*later.JSON200), mustJSON(*answered.JSON200); got != want {
				t.Errorf("%s: the campaign changed after the call answered:\n\tthen  %s\n\tlater %s", action, want, got)
			}
			if a, b := answered.HTTPResponse.Header.Get("ETag"), later.HTTPResponse.Header.Get("ETag"); a != b {
				t.Errorf("%s: the summary's ETag moved from %s to %s after the call answered", action, a, b)
			}
			if dnsDone(*later.JSON200) >= 4000 {
				t.Fatalf("%s: DNS had finished before the call: the test proves nothing", action)
			}
			sum := *later.JSON200
			var checked int64
			if err := s.DB(t).Gorm().WithContext(ctx).Raw(fmt.Sprintf("SELECT count(*) FROM domains WHERE campaign_id = ? AND dns_state <> %d", domainflow.StatePending),
				id.String()).Row().Scan(&checked); err != nil {
				t.Fatal(err)
			}
			if checked != dnsDone(sum) {
				t.Errorf("%s: %d rows have a DNS result; the summary says %d", action, checked, dnsDone(sum))
			}

			// The last progress the client got is the summary; a cancel's
			// campaign_completed carries the same totals. Progress is
			// coalesced (it may leave up to 250 ms after it was published):
			// wait for the one that says the campaign stopped, then for a
			// marker behind anything published after it.
			ws.waitFor(t, "the progress of the stopped campaign", 10*time.Second, func(m wsMsg) bool {
				return m.about(id) && m.Type == "campaign_progress" && decodeData[wsProgress](t, m).Status == sum.Status
			})
			var lastProgress, completion *wsMsg
			for _, m := range alice.markProxy(ctx, t, ws) {
				if !m.about(id) {
					continue
				}
				switch m.Type {
				case "campaign_progress":
					lastProgress = &m
				case "campaign_completed":
					completion = &m
				}
			}
			want := mustJSON(progressOfSummary(sum))
			if lastProgress == nil {
				t.Errorf("%s: no campaign_progress reached the client", action)
			} else if got := mustJSON(decodeData[wsProgress](t, *lastProgress)); got != want {
				t.Errorf("%s: the last campaign_progress is\n\t%s\n\twant (the REST summary)\n\t%s", action, got, want)
			}
			if action == domainflow.ActionCancel {
				if completion == nil {
					t.Errorf("cancel: no campaign_completed reached the client")
				} else if c := decodeData[wsCompleted](t, *completion); c.Totals == nil || mustJSON(*c.Totals) != want {
					t.Errorf("cancel: campaign_completed totals %s, want (the REST summary) %s", completion.Data, want)
				}
			}
			t.Logf("%s landed with %d of 4000 names checked", action, dnsDone(sum))
		}
	})
}

// TestHintsFollowCommits holds the DNS server's answers so that the engine
// can write nothing more, and checks that what it wrote before is already
// announced: a campaign_progress with exactly the REST summary's counts and
// a domains_changed of the same version reach the client while the next
// batch is still being checked (events follow each commit, not the next
// batch's start).
func TestHintsFollowCommits(t *testing.T) {
	// Steps of the default length: a batch's hint must not wait for a step
	// to end, nor for the next batch.
	eachDialectWith(t, func(t *testing.T, d string) *testServer {
		return startServer(t, d, append(slices.Clone(engineFlags), "--step-time", "5s")...)
	}, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		ws := alice.connectWS(ctx, t, s)
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "hints", AutoStart: ptr(true),
			Generation: prefixGen("hint", "abcdefghij", 4, []string{".test"}, 4000),
			Dns:        &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(1500), Retries: ptr(0), Concurrency: ptr(50), RateLimitQps: ptr(400)},
		})
		mustStatus(t, "create", cr, err, 201)
		id := cr.JSON201.Id
		for round := 1; round <= 3; round++ {
			alice.waitFor(ctx, t, id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) >= int64(200*round) })
			release := dnsSrv.hold()
			dnsSrv.waitHeld(t, 50)
			// Every check is held: what was written is all there will be
			// until the release, and its state must reach the client. Read
			// the summary and compare it with the last progress the client
			// got (and the domains_changed of that version), until they
			// agree: progress is coalesced, so an intermediate state may
			// never be sent, but the last one always is.
			type versioned struct {
				Version int64 `json:"version"`
			}
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				sum := alice.summary(ctx, t, id)
				want := mustJSON(progressOfSummary(sum))
				var last string
				version := int64(-1)
				hinted := map[int64]bool{}
				for _, m := range ws.all() {
					if !m.about(id) {
						continue
					}
					switch m.Type {
					case "campaign_progress":
						last, version = mustJSON(decodeData[wsProgress](t, m)), decodeData[versioned](t, m).Version
					case "domains_changed":
						hinted[decodeData[versioned](t, m).Version] = true
					}
				}
				if last == want && hinted[version] {
					break
				}
				if time.Now().After(deadline) {
					release()
					t.Fatalf("round %d: while every DNS answer was held, the last campaign_progress (version %d, hinted %v) is\n\t%s\nwant (the REST summary)\n\t%s",
						round, version, hinted[version], last, want)
				}
			}
			release()
		}
	})
}
