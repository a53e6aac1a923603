package tests

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// snapshotWriteTime bounds how long TestPagesAreSnapshots writes (and so
// reads): the writer stops earlier when the campaign is full.
const snapshotWriteTime = 3 * time.Second

// TestPagesAreSnapshots reads every kind of list page while domains are
// written as fast as the store takes them, the way a running campaign writes
// them, and checks what each page says of itself: its total agrees with its
// items, the bulk answer's summary with its page, and one ETag never labels
// two different bodies. A page whose parts were read at different moments
// breaks one of these sooner or later.
func TestPagesAreSnapshots(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		u := s.newUser(t, "reader")
		busy := u.createCampaign(ctx, t, "busy", testGeneration())
		quiet, _ := s.seedCampaign(ctx, t, u, "quiet", 30, 7)
		rows := makeRows(t, busy, 0, testTotalDomains, newRand(61))
		db := s.DB(t)

		// The writer: new domains in small batches, and a DNS result for the
		// pending ones of the batch before (a write that changes rows but not
		// how many there are); now and then a new campaign for the campaign
		// list.
		writing := make(chan struct{})
		var writes atomic.Int64
		go func() {
			defer close(writing)
			deadline := time.Now().Add(snapshotWriteTime)
			var pending []domainflow.DomainOutcome
			for from := 0; from < len(rows) && time.Now().Before(deadline) && ctx.Err() == nil; from += 7 {
				batch := rows[from:min(from+7, len(rows))]
				ds := make([]domainflow.Domain, len(batch))
				for i, r := range batch {
					ds[i] = r.D
				}
				if _, _, err := db.InsertDomains(ctx, u.ID, busy.Id, ds); err != nil {
					t.Errorf("insert domains: %v", err)
					return
				}
				if len(pending) > 0 {
					if _, _, err := db.Record(ctx, u.ID, busy.Id, domainflow.PhaseDNS, pending); err != nil {
						t.Errorf("record DNS results: %v", err)
						return
					}
				}
				pending = pending[:0]
				for _, r := range batch {
					if r.Outcome == oPending {
						pending = append(pending, domainflow.PendingDomain{OffsetIndex: r.D.OffsetIndex}.DNSChecked(
							domainflow.DNSResult{Status: "ok", Addresses: []string{"192.0.2.7"}, Attempts: 1}, 1))
					}
				}
				if n := writes.Add(1); n%25 == 0 {
					resp, err := u.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: fmt.Sprintf("new %d", n), Generation: testGeneration()})
					if err != nil || resp.StatusCode() != 201 {
						t.Errorf("create a campaign while writing: %v %s", err, resp.Body)
						return
					}
				}
			}
		}()

		cl := u.api()
		var (
			mu     sync.Mutex
			bodies = map[string][sha256.Size]byte{} // ETag → body
			reads  = map[string]int{}               // kind of page → 200s read
			errs   int
		)
		report := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if errs++; errs <= 10 {
				t.Errorf(format, args...)
			}
		}
		// seen checks that the ETag labels no other body than this one.
		seen := func(what string, status int, etag *string, body []byte) bool {
			if status != 200 {
				report("%s: status %d: %s", what, status, body)
				return false
			}
			if etag == nil {
				report("%s: no ETag", what)
				return false
			}
			sum := sha256.Sum256(body)
			mu.Lock()
			defer mu.Unlock()
			reads[what]++
			if old, ok := bodies[*etag]; ok && old != sum {
				if errs++; errs <= 10 {
					t.Errorf("%s: ETag %s labels two different bodies; this one: %s", what, *etag, body)
				}
			}
			bodies[*etag] = sum
			return true
		}
		// consistent checks a page's has_more and total against its items.
		consistent := func(what string, offset int64, items, limit int, hasMore bool, total int64) {
			end := offset + int64(items)
			switch {
			case items > limit:
				report("%s: %d items over a limit of %d", what, items, limit)
			case hasMore && (items != limit || end >= total):
				report("%s: has_more with items %d to %d of a total of %d (limit %d)", what, offset, end, total, limit)
			case !hasMore && end != total && !(items == 0 && offset >= total):
				report("%s: the last page ends at item %d, but total is %d", what, end, total)
			}
		}

		readers := []func(){
			func() { // the whole list, and its last page
				for _, p := range []api.ListDomainsParams{
					{Limit: ptr(1000)},
					{Limit: ptr(1000), Status: ptr(api.DomainFilterStatusFailed)},
					{Limit: ptr(1000), Status: ptr(api.DomainFilterStatusValidated), Phase: ptr(api.DomainFilterPhaseDns)},
					{Limit: ptr(50), Offset: ptr(int64(len(rows) / 3))},
				} {
					r, err := cl.ListDomainsWithResponse(ctx, busy.Id, &p)
					if err != nil {
						report("domain page: %v", err)
						continue
					}
					what := fmt.Sprintf("domain page %s", r.HTTPResponse.Request.URL.RawQuery)
					if seen("domain pages", r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body) {
						pg := r.JSON200
						consistent(what, deref(pg.Offset), len(pg.Items), pg.Limit, pg.HasMore, pg.Total)
					}
				}
			},
			func() {
				r, err := cl.GetDomainStatusSummaryWithResponse(ctx, busy.Id, nil)
				if err != nil {
					report("status summary: %v", err)
					return
				}
				seen("status summaries", r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body)
			},
			func() {
				r, err := cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{Limit: ptr(100)})
				if err != nil {
					report("campaign list: %v", err)
					return
				}
				if seen("campaign lists", r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body) {
					pg := r.JSON200
					consistent("campaign list", pg.Offset, len(pg.Items), pg.Limit, pg.HasMore, pg.Total)
				}
			},
			func() {
				r, err := cl.GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: []uuid.UUID{busy.Id, quiet.Id}, Limit: ptr(1000)})
				if err != nil || r.StatusCode() != 200 {
					report("bulk enriched data: %v %s", err, r.Body)
					return
				}
				mu.Lock()
				reads["bulk answers"]++
				mu.Unlock()
				if len(r.JSON200.Items) != 2 {
					report("bulk enriched data: %d items, want 2", len(r.JSON200.Items))
				}
				for _, it := range r.JSON200.Items {
					what := "bulk item " + it.Campaign.Name
					consistent(what, 0, len(it.Domains.Items), it.Domains.Limit, it.Domains.HasMore, it.Domains.Total)
					if it.Domains.Total != it.Summary.Generated {
						report("%s: the page's total is %d, its summary's generated %d", what, it.Domains.Total, it.Summary.Generated)
					}
				}
			},
		}
		var wg sync.WaitGroup
		for _, read := range readers {
			wg.Go(func() {
				for {
					select {
					case <-writing:
						return
					default:
					}
					read()
				}
			})
		}
		wg.Wait()
		t.Logf("%d writes; 200s read: %v", writes.Load(), reads)
		for _, what := range []string{"domain pages", "status summaries", "campaign lists", "bulk answers"} {
			if reads[what] == 0 {
				t.Errorf("no %s were read while the domains were written", what)
			}
		}
		if writes.Load() == 0 {
			t.Errorf("nothing was written")
		}
	})
}
