package server

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// CreateCampaign hands the new campaign to the engine, which checks it.
func (s *Server) CreateCampaign(ctx context.Context, req api.CreateCampaignRequestObject) (api.CreateCampaignResponseObject, error) {
	body := req.Body
	cfg, err := configFromCreate(body)
	if err != nil {
		return nil, domainflow.Invalid("The request body does not match the campaign schema.", domainflow.FieldError{Pointer: "", Detail: err.Error()})
	}
	n := newCampaign(body, cfg)
	n.UserID = userID(ctx)
	c, err := s.engine.CreateCampaign(ctx, n)
	if err != nil {
		return nil, err
	}
	out, err := apiCampaign(c)
	if err != nil {
		return nil, err
	}
	return api.CreateCampaign201JSONResponse(out), nil
}

// newCampaign is what a create body asks for (its user aside).
func newCampaign(body *api.CampaignCreate, cfg domainflow.CampaignConfig) domainflow.NewCampaign {
	n := domainflow.NewCampaign{Name: body.Name, Config: cfg, AutoStart: body.AutoStart != nil && *body.AutoStart}
	if body.Description != nil {
		n.Description = *body.Description
	}
	return n
}

// checkCampaignBody runs the checks of CreateCampaign on a body that failed
// the schema, so that its answer names those fields too.
func checkCampaignBody(body []byte) []domainflow.FieldError {
	var create api.CampaignCreate
	if json.Unmarshal(body, &create) != nil {
		return nil
	}
	cfg, err := configFromCreate(&create)
	if err != nil {
		return nil
	}
	n := newCampaign(&create, cfg)
	return invalidFields(n.Validate())
}

// invalidFields returns the fields an EINVALID error names.
func invalidFields(err error) []domainflow.FieldError {
	var e *domainflow.Error
	if errors.As(err, &e) && e.Code == domainflow.EINVALID {
		return e.Fields
	}
	return nil
}

// GetCampaign answers 304 when If-None-Match holds the current ETag.
func (s *Server) GetCampaign(ctx context.Context, req api.GetCampaignRequestObject) (api.GetCampaignResponseObject, error) {
	c, err := s.store.GetCampaign(ctx, userID(ctx), req.CampaignId)
	if err != nil {
		return nil, err
	}
	tag := etag(c.ID, c.Version, "campaign")
	if notModified(req.Params.IfNoneMatch, tag) {
		return api.GetCampaign304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	out, err := apiCampaign(c)
	if err != nil {
		return nil, err
	}
	return api.GetCampaign200JSONResponse{Body: out, Headers: api.GetCampaign200ResponseHeaders{ETag: &tag}}, nil
}

// ListCampaigns pages through the caller's campaigns, newest first. Like
// ListDomains: a request with If-None-Match reads the list's state alone
// first; a page, its total and its ETag are read in one snapshot.
func (s *Server) ListCampaigns(ctx context.Context, req api.ListCampaignsRequestObject) (api.ListCampaignsResponseObject, error) {
	limit, offset := 50, int64(0)
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	if req.Params.Offset != nil {
		offset = *req.Params.Offset
	}
	status := ""
	if req.Params.Status != nil {
		status = string(*req.Params.Status)
	}
	user := userID(ctx)
	tagOf := func(state string) string {
		return etag(user, 0, "campaigns", state, status, strconv.Itoa(limit), strconv.FormatInt(offset, 10))
	}
	if req.Params.IfNoneMatch != nil {
		state, err := s.store.CampaignListState(ctx, user, status)
		if err != nil {
			return nil, err
		}
		if tag := tagOf(state); notModified(req.Params.IfNoneMatch, tag) {
			return api.ListCampaigns304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
		}
	}
	list, err := s.store.ListCampaigns(ctx, user, status, limit, offset)
	if err != nil {
		return nil, err
	}
	tag := tagOf(list.State)
	page := api.CampaignPage{Items: make([]api.Campaign, 0, len(list.Items)), Limit: limit, Offset: offset, Total: list.Total}
	for _, c := range list.Items {
		out, err := apiCampaign(c)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, out)
	}
	page.HasMore = offset+int64(len(list.Items)) < list.Total
	return api.ListCampaigns200JSONResponse{Body: page, Headers: api.ListCampaigns200ResponseHeaders{ETag: &tag}}, nil
}

// DeleteCampaign deletes a campaign and its domains.
func (s *Server) DeleteCampaign(ctx context.Context, req api.DeleteCampaignRequestObject) (api.DeleteCampaignResponseObject, error) {
	if err := s.engine.DeleteCampaign(ctx, userID(ctx), req.CampaignId); err != nil {
		return nil, err
	}
	return api.DeleteCampaign204Response{}, nil
}

func (s *Server) lifecycleAnswer(ctx context.Context, id uuid.UUID, action domainflow.Action) (api.CampaignNowJSONResponse, error) {
	c, err := s.engine.Act(ctx, userID(ctx), id, action)
	if err != nil {
		return api.CampaignNowJSONResponse{}, err
	}
	out, err := apiCampaign(c)
	return api.CampaignNowJSONResponse(out), err
}

func (s *Server) StartCampaign(ctx context.Context, req api.StartCampaignRequestObject) (api.StartCampaignResponseObject, error) {
	out, err := s.lifecycleAnswer(ctx, req.CampaignId, domainflow.ActionStart)
	if err != nil {
		return nil, err
	}
	return api.StartCampaign200JSONResponse{CampaignNowJSONResponse: out}, nil
}

func (s *Server) PauseCampaign(ctx context.Context, req api.PauseCampaignRequestObject) (api.PauseCampaignResponseObject, error) {
	out, err := s.lifecycleAnswer(ctx, req.CampaignId, domainflow.ActionPause)
	if err != nil {
		return nil, err
	}
	return api.PauseCampaign200JSONResponse{CampaignNowJSONResponse: out}, nil
}

func (s *Server) ResumeCampaign(ctx context.Context, req api.ResumeCampaignRequestObject) (api.ResumeCampaignResponseObject, error) {
	out, err := s.lifecycleAnswer(ctx, req.CampaignId, domainflow.ActionResume)
	if err != nil {
		return nil, err
	}
	return api.ResumeCampaign200JSONResponse{CampaignNowJSONResponse: out}, nil
}

func (s *Server) CancelCampaign(ctx context.Context, req api.CancelCampaignRequestObject) (api.CancelCampaignResponseObject, error) {
	out, err := s.lifecycleAnswer(ctx, req.CampaignId, domainflow.ActionCancel)
	if err != nil {
		return nil, err
	}
	return api.CancelCampaign200JSONResponse{CampaignNowJSONResponse: out}, nil
}

// ListCampaignResolvers serves the figures of the campaign's resolvers, as
// the engine last saved them; before the DNS phase, the configured
// resolvers with nothing counted yet.
func (s *Server) ListCampaignResolvers(ctx context.Context, req api.ListCampaignResolversRequestObject) (api.ListCampaignResolversResponseObject, error) {
	c, err := s.store.GetCampaign(ctx, userID(ctx), req.CampaignId)
	if err != nil {
		return nil, err
	}
	stats := c.Resolvers
	if stats == nil {
		for _, addr := range c.Config.DNS.Resolvers {
			stats = append(stats, domainflow.ResolverStats{Address: addr, State: domainflow.ResolverActive})
		}
	}
	out := api.ResolverList{Items: make([]api.ResolverStats, 0, len(stats))}
	for _, r := range stats {
		item := api.ResolverStats{
			Address: r.Address, State: api.ResolverStatsState(r.State), Queries: r.Queries, Answers: r.Answers,
			Nxdomain: r.NXDomain, Timeouts: r.Timeouts, Errors: r.Errors, LastError: optString(r.LastError), DemotedAt: r.DemotedAt,
		}
		if p50, ok := r.LatencyP50(); ok {
			item.LatencyP50Ms = &p50
		}
		out.Items = append(out.Items, item)
	}
	return api.ListCampaignResolvers200JSONResponse{Body: out}, nil
}
