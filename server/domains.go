package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

const defaultPageSize = 50

// Cursors are opaque to clients: a letter naming the list ("o" for a
// campaign's domains, by offset_index; "a" for the audit trail, by event id)
// and the last key seen, in unpadded base64url.
const (
	domainCursor = "o"
	auditCursor  = "a"
)

func encodeCursor(kind string, key int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + strconv.FormatInt(key, 10)))
}

func decodeCursor(kind, s string) (int64, error) {
	bad := domainflow.Invalid("The cursor is not valid.", domainflow.FieldError{
		Parameter: "cursor", Detail: "is not a cursor returned by this API (use next_cursor of a previous page)"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(raw), kind)
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, bad
	}
	return n, nil
}

// domainQuery is a domain list request after its parameters were checked.
type domainQuery struct {
	filter domainflow.DomainFilter
	page   domainflow.PageRequest
}

func parseDomainQuery(p api.ListDomainsParams) (domainQuery, error) {
	q := domainQuery{page: domainflow.PageRequest{Limit: defaultPageSize, After: -1}}
	if p.Limit != nil {
		q.page.Limit = *p.Limit
	}
	if p.Cursor != nil {
		if p.Offset != nil {
			return q, domainflow.Invalid("Page by cursor or by offset, not both.",
				domainflow.FieldError{Parameter: "cursor", Detail: "cannot be combined with offset"},
				domainflow.FieldError{Parameter: "offset", Detail: "cannot be combined with cursor"})
		}
		after, err := decodeCursor(domainCursor, *p.Cursor)
		if err != nil {
			return q, err
		}
		q.page.After = after
	}
	if p.Offset != nil {
		q.page.Offset = *p.Offset
	}
	if p.Status != nil {
		q.filter.Status = string(*p.Status)
	}
	if p.Phase != nil {
		q.filter.Phase = string(*p.Phase)
	}
	if p.Q != nil {
		q.filter.Q = *p.Q
	}
	return q, nil
}

func (q domainQuery) etag(campaignID uuid.UUID, version int64) string {
	return etag(campaignID, version, "domains", strconv.Itoa(q.page.Limit), strconv.FormatInt(q.page.Offset, 10),
		strconv.FormatInt(q.page.After, 10), q.filter.Status, q.filter.Phase, q.filter.Q)
}

// domainPage is the API's form of a page the store read.
func domainPage(q domainQuery, page *domainflow.DomainPage) api.DomainPage {
	out := api.DomainPage{Items: make([]api.Domain, len(page.Items)), Limit: q.page.Limit, HasMore: page.HasMore, Total: page.Total}
	for i := range page.Items {
		out.Items[i] = apiDomain(&page.Items[i])
	}
	if q.page.After < 0 {
		out.Offset = &q.page.Offset
	}
	if page.HasMore {
		next := encodeCursor(domainCursor, page.Items[len(page.Items)-1].OffsetIndex)
		out.NextCursor = &next
	}
	return out
}

// ListDomains serves one page of a campaign's domains. A request with
// If-None-Match first reads only the campaign's version: an unchanged page is
// a 304 with no domain row read. Otherwise the store reads the campaign and
// the page in one snapshot, and the ETag is made of that campaign's version,
// so it labels exactly this body.
func (s *Server) ListDomains(ctx context.Context, req api.ListDomainsRequestObject) (api.ListDomainsResponseObject, error) {
	q, err := parseDomainQuery(req.Params)
	if err != nil {
		return nil, err
	}
	user := userID(ctx)
	if req.Params.IfNoneMatch != nil {
		version, err := s.store.CampaignVersion(ctx, user, req.CampaignId)
		if err != nil {
			return nil, err
		}
		if tag := q.etag(req.CampaignId, version); notModified(req.Params.IfNoneMatch, tag) {
			return api.ListDomains304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
		}
	}
	page, err := s.store.ListDomains(ctx, user, req.CampaignId, q.filter, q.page)
	if err != nil {
		return nil, err
	}
	tag := q.etag(page.Campaign.ID, page.Campaign.Version)
	return api.ListDomains200JSONResponse{Body: domainPage(q, page), Headers: api.ListDomains200ResponseHeaders{ETag: &tag}}, nil
}

// GetDomainStatusSummary serves the campaign's tallies; it reads one row,
// which makes both the body and the ETag.
func (s *Server) GetDomainStatusSummary(ctx context.Context, req api.GetDomainStatusSummaryRequestObject) (api.GetDomainStatusSummaryResponseObject, error) {
	c, err := s.store.GetCampaign(ctx, userID(ctx), req.CampaignId)
	if err != nil {
		return nil, err
	}
	tag := etag(c.ID, c.Version, "summary")
	if notModified(req.Params.IfNoneMatch, tag) {
		return api.GetDomainStatusSummary304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	return api.GetDomainStatusSummary200JSONResponse{Body: apiSummary(c), Headers: api.GetDomainStatusSummary200ResponseHeaders{ETag: &tag}}, nil
}

// GetBulkEnrichedData serves many campaigns at once, in request order, all
// read in one snapshot; ids that are not the caller's are reported as not
// found, like missing ones.
func (s *Server) GetBulkEnrichedData(ctx context.Context, req api.GetBulkEnrichedDataRequestObject) (api.GetBulkEnrichedDataResponseObject, error) {
	ids := req.Body.CampaignIds
	if fields := repeatedIDs(ids); len(fields) > 0 {
		return nil, domainflow.Invalid(invalidRequestMessage, fields...)
	}
	q := domainQuery{page: domainflow.PageRequest{Limit: defaultPageSize, After: -1}}
	if req.Body.Limit != nil {
		q.page.Limit = *req.Body.Limit
	}
	pages, err := s.store.DomainPages(ctx, userID(ctx), ids, q.filter, q.page)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]*domainflow.DomainPage, len(pages))
	for _, p := range pages {
		byID[p.Campaign.ID] = p
	}
	out := api.BulkEnrichedResponse{Items: []api.EnrichedCampaign{}, NotFound: []uuid.UUID{}}
	for _, id := range ids {
		page, ok := byID[id]
		if !ok {
			out.NotFound = append(out.NotFound, id)
			continue
		}
		campaign, err := apiCampaign(page.Campaign)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, api.EnrichedCampaign{Campaign: campaign, Summary: apiSummary(page.Campaign), Domains: domainPage(q, page)})
	}
	return api.GetBulkEnrichedData200JSONResponse(out), nil
}

// repeatedIDs names each id of a bulk request that repeats an earlier one.
// Ids are compared as UUIDs, not as the text sent: one campaign spelt in
// two letter cases is still one campaign, and serving it twice would let one
// request ask for the same pages a hundred times over.
func repeatedIDs(ids []uuid.UUID) []domainflow.FieldError {
	first := make(map[uuid.UUID]int, len(ids))
	var out []domainflow.FieldError
	for i, id := range ids {
		if j, ok := first[id]; ok {
			out = append(out, domainflow.FieldError{Pointer: fmt.Sprintf("/campaign_ids/%d", i),
				Detail: fmt.Sprintf("repeats /campaign_ids/%d: each campaign at most once (ids are compared as UUIDs, in any letter case)", j)})
			continue
		}
		first[id] = i
	}
	return out
}

// checkBulkBody runs repeatedIDs on a body that failed the schema, so that
// its answer names repeated ids too.
func checkBulkBody(body []byte) []domainflow.FieldError {
	var req api.BulkEnrichedRequest
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	return repeatedIDs(req.CampaignIds)
}
