package tests

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// checkItem compares one domain of a page with the row seeded for it.
func checkItem(got api.Domain, want seeded) []string {
	var bad []string
	diff := func(field string, g, w any) {
		if g != w {
			bad = append(bad, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	d := want.D
	diff("offset_index", got.OffsetIndex, d.OffsetIndex)
	diff("name", got.Name, d.Name)
	diff("tld", got.Tld, d.TLD)
	if !got.GeneratedAt.Equal(d.GeneratedAt) {
		bad = append(bad, fmt.Sprintf("generated_at = %v, want %v", got.GeneratedAt, d.GeneratedAt))
	}
	diff("status", string(got.Status), want.Status)
	diff("dns_status", string(got.DnsStatus), want.DNSStatus)
	diff("http_status", string(got.HttpStatus), want.HTTPStatus)
	diff("lead_status", string(got.LeadStatus), want.LeadStatus)
	diff("lead_score", got.LeadScore, d.LeadScore)

	switch r := got.DnsResult; {
	case d.DNSResult == nil:
		if r != nil {
			bad = append(bad, "dns_result present for a domain never checked")
		}
	case r == nil:
		bad = append(bad, "dns_result missing")
	default:
		diff("dns_result.status", string(r.Status), d.DNSResult.Status)
		diff("dns_result.reason", string(deref(r.Reason)), d.DNSResult.Reason)
		diff("dns_result.resolver", deref(r.Resolver), d.DNSResult.Resolver)
		if d.DNSResult.Status == "ok" && !slices.Equal(deref(r.Addresses), d.DNSResult.Addresses) {
			bad = append(bad, fmt.Sprintf("dns_result.addresses = %v, want %v", deref(r.Addresses), d.DNSResult.Addresses))
		}
	}
	switch r := got.HttpResult; {
	case d.HTTPResult == nil:
		if r != nil {
			bad = append(bad, "http_result present for a domain never fetched")
		}
	case r == nil:
		bad = append(bad, "http_result missing")
	default:
		diff("http_result.status", string(r.Status), d.HTTPResult.Status)
		diff("http_result.status_code", deref(r.StatusCode), d.HTTPResult.StatusCode)
		diff("http_result.title", deref(r.Title), d.HTTPResult.Title)
		diff("http_result.error", deref(r.Error), d.HTTPResult.Error)
		if !slices.Equal(deref(r.KeywordsFound), d.HTTPResult.KeywordsFound) {
			bad = append(bad, fmt.Sprintf("http_result.keywords_found = %v, want %v", deref(r.KeywordsFound), d.HTTPResult.KeywordsFound))
		}
	}
	return bad
}

// checkSequence checks that got holds exactly the rows of want, each once,
// in offset_index order, and that each shows what was seeded.
func checkSequence(t *testing.T, what string, got []api.Domain, want []seeded) {
	t.Helper()
	seen := make(map[int64]int, len(got))
	for i, d := range got {
		if j, dup := seen[d.OffsetIndex]; dup {
			t.Errorf("%s: offset_index %d returned twice (items %d and %d)", what, d.OffsetIndex, j, i)
			return
		}
		seen[d.OffsetIndex] = i
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %d domains, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i].OffsetIndex != want[i].D.OffsetIndex {
			t.Errorf("%s: item %d has offset_index %d, want %d (wrong order or wrong rows)", what, i, got[i].OffsetIndex, want[i].D.OffsetIndex)
			return
		}
	}
	errs := 0
	for i := range min(len(got), len(want)) {
		if bad := checkItem(got[i], want[i]); len(bad) > 0 {
			t.Errorf("%s: domain %d (%s): %s", what, want[i].D.OffsetIndex, want[i].D.Name, strings.Join(bad, "; "))
			if errs++; errs == 5 {
				t.Errorf("%s: stopping after 5 wrong domains", what)
				return
			}
		}
	}
}

// walkOffset pages through a campaign's domains by offset. limit nil uses
// the default page size (50). It checks every page's bookkeeping.
func walkOffset(ctx context.Context, t *testing.T, u *apiUser, id uuid.UUID, base api.ListDomainsParams, limit *int, wantTotal int) []api.Domain {
	t.Helper()
	size := 50
	if limit != nil {
		size = *limit
	}
	var got []api.Domain
	var offset int64
	for pages := 0; ; pages++ {
		if pages > wantTotal+1 {
			t.Fatalf("offset paging (limit %d) does not end", size)
		}
		p := base
		p.Limit = limit
		if pages > 0 { // the first page leaves offset to its default, 0
			p.Offset = ptr(offset)
		}
		what := fmt.Sprintf("page at offset %d (limit %d)", offset, size)
		resp, err := u.api().ListDomainsWithResponse(ctx, id, &p)
		mustStatus(t, what, resp, err, 200)
		page := resp.JSON200
		wantLen := min(size, max(0, wantTotal-int(offset)))
		wantMore := int(offset)+wantLen < wantTotal
		switch {
		case page.Limit != size:
			t.Fatalf("%s: limit = %d, want %d", what, page.Limit, size)
		case page.Total != int64(wantTotal):
			t.Fatalf("%s: total = %d, want %d", what, page.Total, wantTotal)
		case page.Offset == nil || *page.Offset != offset:
			t.Fatalf("%s: offset = %v, want %d (offset paging must report its offset)", what, deref(page.Offset), offset)
		case len(page.Items) != wantLen:
			t.Fatalf("%s: %d items, want %d", what, len(page.Items), wantLen)
		case page.HasMore != wantMore:
			t.Fatalf("%s: has_more = %v, want %v", what, page.HasMore, wantMore)
		case page.HasMore && (page.NextCursor == nil || *page.NextCursor == ""):
			t.Fatalf("%s: has_more but no next_cursor", what)
		case !page.HasMore && page.NextCursor != nil:
			t.Fatalf("%s: last page has next_cursor %q, want null", what, *page.NextCursor)
		}
		got = append(got, page.Items...)
		if !page.HasMore {
			return got
		}
		offset += int64(len(page.Items))
	}
}

// walkCursor pages through a campaign's domains by cursor: the first page has
// neither cursor nor offset, each next one the previous page's next_cursor.
func walkCursor(ctx context.Context, t *testing.T, u *apiUser, id uuid.UUID, base api.ListDomainsParams, limit int, wantTotal int) []api.Domain {
	t.Helper()
	var got []api.Domain
	var cursor *string
	for pages := 0; ; pages++ {
		if pages > wantTotal+1 {
			t.Fatalf("cursor paging (limit %d) does not end", limit)
		}
		p := base
		p.Limit, p.Cursor = ptr(limit), cursor
		what := fmt.Sprintf("cursor page %d (limit %d)", pages, limit)
		resp, err := u.api().ListDomainsWithResponse(ctx, id, &p)
		mustStatus(t, what, resp, err, 200)
		page := resp.JSON200
		wantLen := min(limit, wantTotal-len(got))
		wantMore := len(got)+wantLen < wantTotal
		switch {
		case page.Limit != limit:
			t.Fatalf("%s: limit = %d, want %d", what, page.Limit, limit)
		case page.Total != int64(wantTotal):
			t.Fatalf("%s: total = %d, want %d", what, page.Total, wantTotal)
		case len(page.Items) != wantLen:
			t.Fatalf("%s: %d items, want %d", what, len(page.Items), wantLen)
		case page.HasMore != wantMore:
			t.Fatalf("%s: has_more = %v, want %v", what, page.HasMore, wantMore)
		case page.HasMore && (page.NextCursor == nil || *page.NextCursor == ""):
			t.Fatalf("%s: has_more but no next_cursor", what)
		case !page.HasMore && page.NextCursor != nil:
			t.Fatalf("%s: last page has next_cursor %q, want null", what, *page.NextCursor)
		}
		if cursor == nil {
			if page.Offset == nil || *page.Offset != 0 {
				t.Fatalf("%s: first page (no cursor) has offset %v, want 0", what, deref(page.Offset))
			}
		} else if _, present := jsonObject(t, what, resp.Body)["offset"]; present {
			t.Fatalf("%s: a page by cursor carries \"offset\" (%v); it must be absent", what, deref(page.Offset))
		}
		got = append(got, page.Items...)
		if !page.HasMore {
			return got
		}
		cursor = page.NextCursor
	}
}

func TestDomainPaging(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		u := s.newUser(t, "pager")
		const n = 1234
		c, rows := s.seedCampaign(ctx, t, u, "paging", n, 1)

		for _, limit := range []*int{nil, ptr(1000), ptr(617), ptr(100), ptr(7)} {
			name := "default"
			if limit != nil {
				name = fmt.Sprint(*limit)
			}
			t.Run("offset/limit="+name, func(t *testing.T) {
				got := walkOffset(ctx, t, u, c.Id, api.ListDomainsParams{}, limit, n)
				checkSequence(t, "offset paging", got, rows)
			})
		}
		for _, limit := range []int{1000, 333, 50, 13, 1} {
			if limit == 1 && testing.Short() {
				continue
			}
			t.Run(fmt.Sprintf("cursor/limit=%d", limit), func(t *testing.T) {
				got := walkCursor(ctx, t, u, c.Id, api.ListDomainsParams{}, limit, n)
				checkSequence(t, "cursor paging", got, rows)
			})
		}

		t.Run("cursor of an offset page continues after it", func(t *testing.T) {
			resp, err := u.api().ListDomainsWithResponse(ctx, c.Id, &api.ListDomainsParams{Limit: ptr(100), Offset: ptr(int64(400))})
			mustStatus(t, "page at offset 400", resp, err, 200)
			if resp.JSON200.NextCursor == nil {
				t.Fatalf("page at offset 400 of %d has no next_cursor", n)
			}
			checkSequence(t, "page at offset 400", resp.JSON200.Items, rows[400:500])
			next, err := u.api().ListDomainsWithResponse(ctx, c.Id, &api.ListDomainsParams{Limit: ptr(1000), Cursor: resp.JSON200.NextCursor})
			mustStatus(t, "page after offset 400's cursor", next, err, 200)
			checkSequence(t, "page after offset 400's cursor", next.JSON200.Items, rows[500:])
			if next.JSON200.HasMore || next.JSON200.NextCursor != nil {
				t.Errorf("page after offset 400's cursor: has_more %v, next_cursor %v; want false, null", next.JSON200.HasMore, deref(next.JSON200.NextCursor))
			}
		})

		for _, offset := range []int64{n, n + 1, 5000, math.MaxInt64} {
			t.Run(fmt.Sprintf("offset=%d is past the end", offset), func(t *testing.T) {
				resp, err := u.api().ListDomainsWithResponse(ctx, c.Id, &api.ListDomainsParams{Offset: ptr(offset)})
				mustStatus(t, "page past the end", resp, err, 200)
				p := resp.JSON200
				if len(p.Items) != 0 || p.HasMore || p.NextCursor != nil || p.Total != n || deref(p.Offset) != offset {
					t.Errorf("page past the end: %d items, has_more %v, next_cursor %v, total %d, offset %v; want 0, false, null, %d, %d",
						len(p.Items), p.HasMore, deref(p.NextCursor), p.Total, deref(p.Offset), n, offset)
				}
				if p.Items == nil {
					t.Errorf("page past the end: items is null, want []")
				}
			})
		}
	})
}

// filterCase is one combination of the list's filters.
type filterCase struct {
	status, phase, q string
}

func (f filterCase) String() string {
	var parts []string
	for _, kv := range [][2]string{{"status", f.status}, {"phase", f.phase}, {"q", f.q}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "no filter"
	}
	return strings.Join(parts, "&")
}

func (f filterCase) params() api.ListDomainsParams {
	var p api.ListDomainsParams
	if f.status != "" {
		p.Status = ptr(api.DomainFilterStatus(f.status))
	}
	if f.phase != "" {
		p.Phase = ptr(api.DomainFilterPhase(f.phase))
	}
	if f.q != "" {
		p.Q = ptr(f.q)
	}
	return p
}

func TestDomainFilters(t *testing.T) {
	var cases []filterCase
	for _, phase := range []string{"", "dns", "http", "analysis"} {
		for _, status := range []string{"", "generated", "validated", "failed"} {
			cases = append(cases, filterCase{status: status, phase: phase})
		}
	}
	combos := len(cases)
	cases = append(cases,
		filterCase{q: "aa"},
		filterCase{q: "AA", status: "failed"},                      // case-insensitive, with a status
		filterCase{q: "shop.n", status: "validated", phase: "dns"}, // q with status and phase
		filterCase{q: "b", status: "generated", phase: "http"},
		filterCase{q: "c", status: "validated", phase: "analysis"},
		filterCase{q: ".com"},
		filterCase{q: "a_c"}, // LIKE wildcards are plain text: "abcshop" does not contain "a_c"
		filterCase{q: "a%c"},
		filterCase{q: "zzz"},
		filterCase{q: `\`}, // the LIKE escape character itself
		filterCase{q: "'"},
	)

	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		u := s.newUser(t, "filterer")
		c, rows := s.seedCampaign(ctx, t, u, "filters", 1234, 2)

		for i, fc := range cases {
			t.Run(fc.String(), func(t *testing.T) {
				var want []seeded
				for _, r := range rows {
					if r.matches(fc.status, fc.phase, fc.q) {
						want = append(want, r)
					}
				}
				if i < combos && len(want) == 0 {
					t.Fatalf("the seed has no row for %s; the case would prove nothing", fc)
				}
				got := walkOffset(ctx, t, u, c.Id, fc.params(), ptr(1000), len(want))
				checkSequence(t, "by offset", got, want)
				got = walkCursor(ctx, t, u, c.Id, fc.params(), 150, len(want))
				checkSequence(t, "by cursor", got, want)
			})
		}
	})
}

func TestDomainStatusSummary(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		u := s.newUser(t, "summarist")

		// A campaign without domains first: everything is zero.
		empty := u.createCampaign(ctx, t, "empty", testGeneration())
		resp, err := u.api().GetDomainStatusSummaryWithResponse(ctx, empty.Id, nil)
		mustStatus(t, "summary of an empty campaign", resp, err, 200)
		if sum := resp.JSON200; sum.Generated != 0 || sum.Overall != (api.PhaseCounts{}) || sum.Leads != 0 ||
			sum.Progress.Processed != 0 || sum.Progress.Percent != 0 || sum.TotalDomains != testTotalDomains {
			t.Errorf("summary of an empty campaign: %s", resp.Body)
		}

		const n = 1234
		c, rows := s.seedCampaign(ctx, t, u, "summary", n, 3)
		resp, err = u.api().GetDomainStatusSummaryWithResponse(ctx, c.Id, nil)
		mustStatus(t, "summary", resp, err, 200)
		got := resp.JSON200

		count := func(phase string, st domainflow.State) int64 {
			var k int64
			for _, r := range rows {
				if r.stateIn(phase) == st {
					k++
				}
			}
			return k
		}
		const (
			P = domainflow.StatePending
			V = domainflow.StateValidated
			F = domainflow.StateFailed
			S = domainflow.StateSkipped
		)
		var leads int64
		for _, r := range rows {
			if r.D.LeadScore >= 40 {
				leads++
			}
		}
		if leads != count("analysis", V) {
			t.Fatalf("seed is inconsistent: %d rows score >= 40 but %d are leads", leads, count("analysis", V))
		}
		httpSkipped := count("http", S)
		want := api.StatusSummary{
			CampaignId:   c.Id,
			Status:       api.CampaignStatusDraft,
			TotalDomains: testTotalDomains,
			Generated:    n,
			Overall:      api.PhaseCounts{Generated: n, Validated: count("", V), Failed: count("", F)},
			Dns:          api.PhaseCounts{Generated: count("dns", P), Validated: count("dns", V), Failed: count("dns", F)},
			Http:         api.PhaseCounts{Generated: count("http", P), Validated: count("http", V), Failed: count("http", F), Skipped: &httpSkipped},
			Analysis:     api.PhaseCounts{Generated: count("analysis", P), Validated: count("analysis", V), Failed: count("analysis", F)},
			Leads:        leads,
		}
		// Each domain is one unit of work per phase; a skipped fetch is done.
		processed := int64(n) + want.Dns.Validated + want.Dns.Failed +
			want.Http.Validated + want.Http.Failed + httpSkipped + want.Analysis.Validated + want.Analysis.Failed
		want.Progress = api.Progress{Processed: processed, Total: 4 * testTotalDomains, Percent: float64(processed) * 100 / (4 * testTotalDomains)}

		if want.Overall.Failed == 0 || want.Dns.Failed == 0 || want.Http.Failed == 0 || want.Analysis.Failed == 0 || httpSkipped == 0 {
			t.Fatalf("seed has a phase without failures; the test would prove nothing: %+v", want)
		}
		if got.Overall.Failed == 0 {
			t.Errorf("overall.failed = 0 with %d failed domains (the old system's bug)", want.Overall.Failed)
		}

		check := func(field string, g, w any) {
			if g != w {
				t.Errorf("%s = %v, want %v", field, g, w)
			}
		}
		check("campaign_id", got.CampaignId, want.CampaignId)
		check("status", got.Status, want.Status)
		check("current_phase", got.CurrentPhase, (*api.Phase)(nil))
		check("total_domains", got.TotalDomains, want.TotalDomains)
		check("generated", got.Generated, want.Generated)
		check("leads", got.Leads, want.Leads)
		for _, ph := range []struct {
			name      string
			got, want api.PhaseCounts
		}{{"overall", got.Overall, want.Overall}, {"dns", got.Dns, want.Dns}, {"http", got.Http, want.Http}, {"analysis", got.Analysis, want.Analysis}} {
			check(ph.name+".generated", ph.got.Generated, ph.want.Generated)
			check(ph.name+".validated", ph.got.Validated, ph.want.Validated)
			check(ph.name+".failed", ph.got.Failed, ph.want.Failed)
			if ph.want.Skipped != nil {
				check(ph.name+".skipped", deref(ph.got.Skipped), *ph.want.Skipped)
			}
		}
		check("progress.processed", got.Progress.Processed, want.Progress.Processed)
		check("progress.total", got.Progress.Total, want.Progress.Total)
		if math.Abs(got.Progress.Percent-want.Progress.Percent) > 1e-9 {
			t.Errorf("progress.percent = %v, want %v", got.Progress.Percent, want.Progress.Percent)
		}
		if got.UpdatedAt.IsZero() {
			t.Errorf("updated_at is zero")
		}

		// Every count agrees with the total of the list filtered the same way.
		for _, phase := range []string{"", "dns", "http", "analysis"} {
			for _, status := range []string{"generated", "validated", "failed"} {
				fc := filterCase{status: status, phase: phase}
				p := fc.params()
				p.Limit = ptr(1)
				lr, err := u.api().ListDomainsWithResponse(ctx, c.Id, &p)
				mustStatus(t, "list "+fc.String(), lr, err, 200)
				counts := map[string]api.PhaseCounts{"": got.Overall, "dns": got.Dns, "http": got.Http, "analysis": got.Analysis}[phase]
				summaryCount := map[string]int64{"generated": counts.Generated, "validated": counts.Validated, "failed": counts.Failed}[status]
				if lr.JSON200.Total != summaryCount {
					t.Errorf("list %s has total %d but the summary counts %d", fc, lr.JSON200.Total, summaryCount)
				}
			}
		}
	})
}

func TestConditionalRequests(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		u := s.newUser(t, "poller")
		c, _ := s.seedCampaign(ctx, t, u, "etags", 300, 4)
		cl := u.api()
		pageParams := func(etag *string) *api.ListDomainsParams {
			return &api.ListDomainsParams{Limit: ptr(10), Status: ptr(api.DomainFilterStatusFailed), IfNoneMatch: etag}
		}

		// Each GET of a resource and the same GET with its ETag in If-None-Match.
		type conditional struct {
			name string
			get  func(ifNoneMatch *string) (status int, etag *string, body []byte, err error)
		}
		resources := []conditional{
			{"campaign", func(inm *string) (int, *string, []byte, error) {
				r, err := cl.GetCampaignWithResponse(ctx, c.Id, &api.GetCampaignParams{IfNoneMatch: inm})
				if err != nil {
					return 0, nil, nil, err
				}
				return r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body, nil
			}},
			{"domain page", func(inm *string) (int, *string, []byte, error) {
				r, err := cl.ListDomainsWithResponse(ctx, c.Id, pageParams(inm))
				if err != nil {
					return 0, nil, nil, err
				}
				return r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body, nil
			}},
			{"status summary", func(inm *string) (int, *string, []byte, error) {
				r, err := cl.GetDomainStatusSummaryWithResponse(ctx, c.Id, &api.GetDomainStatusSummaryParams{IfNoneMatch: inm})
				if err != nil {
					return 0, nil, nil, err
				}
				return r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body, nil
			}},
			{"campaign list", func(inm *string) (int, *string, []byte, error) {
				r, err := cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{IfNoneMatch: inm})
				if err != nil {
					return 0, nil, nil, err
				}
				return r.StatusCode(), etagOf(r.HTTPResponse.Header), r.Body, nil
			}},
		}

		first := map[string]string{}
		for _, res := range resources {
			status, tag, body, err := res.get(nil)
			if err != nil || status != 200 {
				t.Fatalf("GET %s: status %d, err %v: %s", res.name, status, err, body)
			}
			if tag == nil || *tag == "" {
				t.Fatalf("GET %s: no ETag", res.name)
			}
			if !strings.HasPrefix(*tag, `"`) || !strings.HasSuffix(*tag, `"`) {
				t.Errorf("GET %s: ETag %s is not a strong, quoted entity tag", res.name, *tag)
			}
			first[res.name] = *tag

			status, tag304, body, err := res.get(tag)
			if err != nil || status != 304 {
				t.Errorf("GET %s with If-None-Match %s: status %d, err %v, want 304: %s", res.name, *tag, status, err, body)
			} else {
				if len(body) != 0 {
					t.Errorf("GET %s: 304 with a body: %s", res.name, body)
				}
				if deref(tag304) != *tag {
					t.Errorf("GET %s: 304 carries ETag %q, want %q", res.name, deref(tag304), *tag)
				}
			}
			status, _, body, err = res.get(ptr(`"not-the-tag"`))
			if err != nil || status != 200 {
				t.Errorf("GET %s with a stale If-None-Match: status %d, err %v, want 200: %s", res.name, status, err, body)
			}
			// "*" is no ETag: it earns the whole answer, never a free 304.
			for _, inm := range []string{"*", `"not-the-tag", *`} {
				status, got, body, err := res.get(&inm)
				if err != nil || status != 200 || len(body) == 0 || deref(got) != *tag {
					t.Errorf("GET %s with If-None-Match %s: status %d, ETag %q, err %v, %d bytes; want 200 with the body and ETag %s",
						res.name, inm, status, deref(got), err, len(body), *tag)
				}
			}
			// A list that holds the ETag is a 304, "*" in it or not.
			if status, _, body, err := res.get(ptr(`"not-the-tag", W/` + *tag + `, *`)); err != nil || status != 304 {
				t.Errorf("GET %s with a list holding its ETag: status %d, err %v, want 304: %s", res.name, status, err, body)
			}
		}

		// The ETag identifies the representation: another page size is another page.
		other, err := cl.ListDomainsWithResponse(ctx, c.Id, &api.ListDomainsParams{Limit: ptr(20), Status: ptr(api.DomainFilterStatusFailed), IfNoneMatch: ptr(first["domain page"])})
		mustStatus(t, "page of 20 with the ETag of the page of 10", other, err, 200)
		if tag := etagOf(other.HTTPResponse.Header); tag == nil || *tag == first["domain page"] {
			t.Errorf("pages of 10 and 20 share the ETag %v", deref(tag))
		}

		// New domains change every representation.
		rng := rand.New(rand.NewPCG(44, 44))
		more := makeRows(t, c, 300, 366, rng)
		s.insertRows(ctx, t, u, c, more, rng)
		for _, res := range resources {
			old := first[res.name]
			status, tag, body, err := res.get(&old)
			if err != nil || status != 200 {
				t.Errorf("GET %s with the old ETag after new domains: status %d, err %v, want 200: %s", res.name, status, err, body)
				continue
			}
			if tag == nil || *tag == old {
				t.Errorf("GET %s after new domains: ETag %v, want a new one (old %s)", res.name, deref(tag), old)
				continue
			}
			if status, _, body, err := res.get(tag); err != nil || status != 304 {
				t.Errorf("GET %s with the new ETag: status %d, err %v, want 304: %s", res.name, status, err, body)
			}
		}
		sum, err := cl.GetDomainStatusSummaryWithResponse(ctx, c.Id, nil)
		mustStatus(t, "summary after new domains", sum, err, 200)
		if sum.JSON200.Generated != 366 {
			t.Errorf("summary after new domains: generated = %d, want 366", sum.JSON200.Generated)
		}
	})
}

func etagOf(h interface{ Get(string) string }) *string {
	if v := h.Get("ETag"); v != "" {
		return &v
	}
	return nil
}

func TestBulkEnrichedData(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		c1, rows1 := s.seedCampaign(ctx, t, alice, "first", 120, 5)
		c2, rows2 := s.seedCampaign(ctx, t, alice, "second", 3, 6)
		bobs := bob.createCampaign(ctx, t, "bob's", testGeneration())
		random := uuid.New()

		ids := []uuid.UUID{c2.Id, bobs.Id, c1.Id, random}
		resp, err := alice.api().GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: ids, Limit: ptr(7)})
		mustStatus(t, "bulk enriched data", resp, err, 200)
		got := resp.JSON200
		if len(got.Items) != 2 {
			t.Fatalf("bulk: %d items, want 2 (alice's campaigns): %s", len(got.Items), resp.Body)
		}
		for i, w := range []struct {
			c    api.Campaign
			rows []seeded
		}{{c2, rows2}, {c1, rows1}} {
			it := got.Items[i]
			if it.Campaign.Id != w.c.Id {
				t.Errorf("bulk item %d is campaign %s, want %s (request order)", i, it.Campaign.Id, w.c.Id)
				continue
			}
			if it.Campaign.Name != w.c.Name {
				t.Errorf("bulk item %d: name %q, want %q", i, it.Campaign.Name, w.c.Name)
			}
			if it.Summary.CampaignId != w.c.Id || it.Summary.Generated != int64(len(w.rows)) || it.Summary.TotalDomains != testTotalDomains {
				t.Errorf("bulk item %d: summary campaign %s, generated %d, total_domains %d; want %s, %d, %d",
					i, it.Summary.CampaignId, it.Summary.Generated, it.Summary.TotalDomains, w.c.Id, len(w.rows), testTotalDomains)
			}
			var failed int64
			for _, r := range w.rows {
				if r.D.State == domainflow.StateFailed {
					failed++
				}
			}
			if it.Summary.Overall.Failed != failed {
				t.Errorf("bulk item %d: overall.failed = %d, want %d", i, it.Summary.Overall.Failed, failed)
			}
			wantLen := min(7, len(w.rows))
			if it.Domains.Limit != 7 || it.Domains.Total != int64(len(w.rows)) || it.Domains.HasMore != (len(w.rows) > 7) {
				t.Errorf("bulk item %d: domains limit %d, total %d, has_more %v; want 7, %d, %v",
					i, it.Domains.Limit, it.Domains.Total, it.Domains.HasMore, len(w.rows), len(w.rows) > 7)
			}
			checkSequence(t, fmt.Sprintf("bulk item %d domains", i), it.Domains.Items, w.rows[:wantLen])
		}
		gotMissing := slices.Clone(got.NotFound)
		wantMissing := []uuid.UUID{bobs.Id, random}
		cmp := func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) }
		slices.SortFunc(gotMissing, cmp)
		slices.SortFunc(wantMissing, cmp)
		if !slices.Equal(gotMissing, wantMissing) {
			t.Errorf("bulk not_found = %v, want %v (bob's campaign and a random id)", got.NotFound, []uuid.UUID{bobs.Id, random})
		}
		if strings.Contains(string(resp.Body), "bob's") {
			t.Errorf("bulk answer to alice shows bob's campaign: %s", resp.Body)
		}

		// Bad requests.
		tooMany := make([]uuid.UUID, 101)
		for i := range tooMany {
			tooMany[i] = uuid.New()
		}
		r, err := alice.api().GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: tooMany})
		checkNames(t, "bulk with 101 ids", checkProblem(t, "bulk with 101 ids", r, err, 400, "invalid"), byPointer, "/campaign_ids")

		// Each campaign at most once, whatever the letter case of its id: the
		// answer names each repeat by its position.
		upper := strings.ToUpper(c1.Id.String())
		for _, dup := range []struct {
			name, body string
			pointers   []string
		}{
			{"bulk with a repeated id", fmt.Sprintf(`{"campaign_ids": [%q, %q, %q]}`, c1.Id, c2.Id, c1.Id), []string{"/campaign_ids/2"}},
			{"bulk with an id in two letter cases", fmt.Sprintf(`{"campaign_ids": [%q, %q], "limit": 1000}`, c1.Id, upper), []string{"/campaign_ids/1"}},
			{"bulk with an id three times", fmt.Sprintf(`{"campaign_ids": [%q, %q, %q, %q]}`, upper, c2.Id, c1.Id, strings.ToLower(upper)), []string{"/campaign_ids/2", "/campaign_ids/3"}},
			{"bulk with a repeated id and a bad limit", fmt.Sprintf(`{"campaign_ids": [%q, %q], "limit": 1001}`, upper, c1.Id), []string{"/campaign_ids/1", "/limit"}},
		} {
			r := alice.raw(ctx, t, "POST", "/api/v1/campaigns/bulk/enriched-data", strings.NewReader(dup.body))
			p := checkProblem(t, dup.name, r, nil, 400, "invalid")
			checkNames(t, dup.name, p, byPointer, dup.pointers...)
			if p != nil && p.Errors != nil && len(*p.Errors) != len(dup.pointers) {
				t.Errorf("%s: errors %s; want exactly %q", dup.name, describeErrors(p), dup.pointers)
			}
		}

		r, err = alice.api().GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: []uuid.UUID{}})
		checkNames(t, "bulk with no ids", checkProblem(t, "bulk with no ids", r, err, 400, "invalid"), byPointer, "/campaign_ids")

		r, err = alice.api().GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: []uuid.UUID{c1.Id}, Limit: ptr(1001)})
		checkNames(t, "bulk with limit 1001", checkProblem(t, "bulk with limit 1001", r, err, 400, "invalid"), byPointer, "/limit")

		// Exactly 100 is allowed.
		hundred := append([]uuid.UUID{c1.Id}, tooMany[:99]...)
		r, err = alice.api().GetBulkEnrichedDataWithResponse(ctx, api.BulkEnrichedRequest{CampaignIds: hundred})
		if checkStatus(t, "bulk with 100 ids", r, err, 200) {
			if len(r.JSON200.Items) != 1 || len(r.JSON200.NotFound) != 99 {
				t.Errorf("bulk with 100 ids: %d items and %d not found, want 1 and 99", len(r.JSON200.Items), len(r.JSON200.NotFound))
			}
		}
	})
}
