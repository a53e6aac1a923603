package server

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

const defaultPageSize = 50

// Cursors are opaque to clients: "o" and the last offset_index seen, in
// unpadded base64url. The prefix leaves room for other kinds later.
func encodeCursor(offsetIndex int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.FormatInt(offsetIndex, 10)))
}

func decodeCursor(s string) (int64, error) {
	bad := domainflow.Invalid("The cursor is not valid.", domainflow.FieldError{
		Parameter: "cursor", Detail: "is not a cursor returned by this API (use next_cursor of a previous page)"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(raw), "o")
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
		after, err := decodeCursor(*p.Cursor)
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

func (q domainQuery) etag(c *domainflow.Campaign) string {
	return etag(c.ID, c.Version, "domains", strconv.Itoa(q.page.Limit), strconv.FormatInt(q.page.Offset, 10),
		strconv.FormatInt(q.page.After, 10), q.filter.Status, q.filter.Phase, q.filter.Q)
}

func (s *Server) domainPage(ctx context.Context, user uuid.UUID, c *domainflow.Campaign, q domainQuery) (api.DomainPage, error) {
	page, err := s.store.ListDomains(ctx, user, c, q.filter, q.page)
	if err != nil {
		return api.DomainPage{}, err
	}
	out := api.DomainPage{Items: make([]api.Domain, len(page.Items)), Limit: q.page.Limit, HasMore: page.HasMore, Total: page.Total}
	for i := range page.Items {
		out.Items[i] = apiDomain(&page.Items[i])
	}
	if q.page.After < 0 {
		out.Offset = &q.page.Offset
	}
	if page.HasMore {
		next := encodeCursor(page.Items[len(page.Items)-1].OffsetIndex)
		out.NextCursor = &next
	}
	return out, nil
}

// ListDomains serves one page of a campaign's domains. The campaign row comes
// first: it proves ownership, gives the ETag (so an unchanged poll is a 304
// with no domain rows read) and the page total from its tallies.
func (s *Server) ListDomains(ctx context.Context, req api.ListDomainsRequestObject) (api.ListDomainsResponseObject, error) {
	q, err := parseDomainQuery(req.Params)
	if err != nil {
		return nil, err
	}
	user := userID(ctx)
	c, err := s.store.GetCampaign(ctx, user, req.CampaignId)
	if err != nil {
		return nil, err
	}
	tag := q.etag(c)
	if notModified(req.Params.IfNoneMatch, tag) {
		return api.ListDomains304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	page, err := s.domainPage(ctx, user, c, q)
	if err != nil {
		return nil, err
	}
	return api.ListDomains200JSONResponse{Body: page, Headers: api.ListDomains200ResponseHeaders{ETag: &tag}}, nil
}

// GetDomainStatusSummary serves the campaign's tallies; it reads one row.
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

// GetBulkEnrichedData serves many campaigns at once, in request order; ids
// that are not the caller's are reported as not found, like missing ones.
func (s *Server) GetBulkEnrichedData(ctx context.Context, req api.GetBulkEnrichedDataRequestObject) (api.GetBulkEnrichedDataResponseObject, error) {
	user := userID(ctx)
	q := domainQuery{page: domainflow.PageRequest{Limit: defaultPageSize, After: -1}}
	if req.Body.Limit != nil {
		q.page.Limit = *req.Body.Limit
	}
	found, err := s.store.GetCampaigns(ctx, user, req.Body.CampaignIds)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]*domainflow.Campaign, len(found))
	for _, c := range found {
		byID[c.ID] = c
	}
	out := api.BulkEnrichedResponse{Items: []api.EnrichedCampaign{}, NotFound: []uuid.UUID{}}
	for _, id := range req.Body.CampaignIds {
		c, ok := byID[id]
		if !ok {
			out.NotFound = append(out.NotFound, id)
			continue
		}
		campaign, err := apiCampaign(c)
		if err != nil {
			return nil, err
		}
		page, err := s.domainPage(ctx, user, c, q)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, api.EnrichedCampaign{Campaign: campaign, Summary: apiSummary(c), Domains: page})
	}
	return api.GetBulkEnrichedData200JSONResponse(out), nil
}
