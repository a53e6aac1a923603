package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/generate"
)

// CreateCampaign validates the whole configuration, then stores a draft.
func (s *Server) CreateCampaign(ctx context.Context, req api.CreateCampaignRequestObject) (api.CreateCampaignResponseObject, error) {
	user := userID(ctx)
	body := req.Body
	cfg, err := configFromCreate(body)
	if err != nil {
		return nil, domainflow.Invalid("The request body does not match the campaign schema.", domainflow.FieldError{Pointer: "", Detail: err.Error()})
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	total, err := generate.Total(cfg.Generation)
	if err != nil {
		return nil, err
	}
	missing, err := s.store.MissingProxies(ctx, user, cfg.HTTP.ProxyIDs)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		var fields []domainflow.FieldError
		for i, id := range cfg.HTTP.ProxyIDs {
			for _, m := range missing {
				if id == m {
					fields = append(fields, domainflow.FieldError{Pointer: fmt.Sprintf("/http/proxy_ids/%d", i), Detail: fmt.Sprintf("no proxy %s", id)})
				}
			}
		}
		return nil, &domainflow.Error{Code: domainflow.EUNPROCESSABLE, Message: "Some proxies do not exist.", Fields: fields}
	}
	c := &domainflow.Campaign{
		UserID: user, Name: body.Name, Status: domainflow.StatusDraft, Config: cfg, TotalDomains: total,
	}
	if body.Description != nil {
		c.Description = *body.Description
	}
	if err := s.store.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	if body.AutoStart != nil && *body.AutoStart {
		if c, err = s.lifecycle(ctx, c.ID, domainflow.ActionStart); err != nil {
			return nil, err
		}
	}
	out, err := apiCampaign(c)
	if err != nil {
		return nil, err
	}
	return api.CreateCampaign201JSONResponse(out), nil
}

// checkCampaignBody runs the configuration checks of CreateCampaign on a body
// that failed the schema, so that its answer names those fields too.
func checkCampaignBody(body []byte) []domainflow.FieldError {
	var create api.CampaignCreate
	if json.Unmarshal(body, &create) != nil {
		return nil
	}
	cfg, err := configFromCreate(&create)
	if err != nil {
		return nil
	}
	var e *domainflow.Error
	if errors.As(cfg.Validate(), &e) {
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

// ListCampaigns pages through the caller's campaigns, newest first.
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
	state, err := s.store.CampaignListState(ctx, user, status)
	if err != nil {
		return nil, err
	}
	tag := etag(user, 0, "campaigns", state, status, strconv.Itoa(limit), strconv.FormatInt(offset, 10))
	if notModified(req.Params.IfNoneMatch, tag) {
		return api.ListCampaigns304Response{Headers: api.NotModifiedResponseHeaders{ETag: &tag}}, nil
	}
	list, total, err := s.store.ListCampaigns(ctx, user, status, limit, offset)
	if err != nil {
		return nil, err
	}
	page := api.CampaignPage{Items: make([]api.Campaign, 0, len(list)), Limit: limit, Offset: offset, Total: total}
	for _, c := range list {
		out, err := apiCampaign(c)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, out)
	}
	page.HasMore = offset+int64(len(list)) < total
	return api.ListCampaigns200JSONResponse{Body: page, Headers: api.ListCampaigns200ResponseHeaders{ETag: &tag}}, nil
}

// DeleteCampaign deletes a campaign and its domains; a campaign that is
// still running is cancelled first, so that its engine step stops writing.
func (s *Server) DeleteCampaign(ctx context.Context, req api.DeleteCampaignRequestObject) (api.DeleteCampaignResponseObject, error) {
	user := userID(ctx)
	if _, err := s.store.Transition(ctx, user, req.CampaignId, domainflow.ActionCancel); err != nil &&
		domainflow.ErrorCode(err) != domainflow.ECONFLICT {
		return nil, err
	}
	if err := s.store.DeleteCampaign(ctx, user, req.CampaignId); err != nil {
		return nil, err
	}
	return api.DeleteCampaign204Response{}, nil
}

// lifecycle applies an action of the campaign state machine; a start or a
// resume hands the campaign to the engine. A transition the campaign's
// status does not allow is a 409.
func (s *Server) lifecycle(ctx context.Context, id uuid.UUID, action domainflow.Action) (*domainflow.Campaign, error) {
	c, err := s.store.Transition(ctx, userID(ctx), id, action)
	if err != nil {
		return nil, err
	}
	s.notify.CampaignChanged(c)
	if c.Status == domainflow.StatusQueued {
		if err := s.engine.Enqueue(ctx, c); err != nil {
			// The campaign is queued: the engine's sweep will pick it up.
			s.log.Warn("enqueue campaign", "campaign", c.ID, "err", err)
		}
	}
	return c, nil
}

func (s *Server) lifecycleAnswer(ctx context.Context, id uuid.UUID, action domainflow.Action) (api.CampaignNowJSONResponse, error) {
	c, err := s.lifecycle(ctx, id, action)
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
