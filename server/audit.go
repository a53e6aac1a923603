package server

import (
	"context"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// ListAuditEvents serves a page of the caller's own audit trail, newest
// first, paged by the id of the last event seen.
func (s *Server) ListAuditEvents(ctx context.Context, req api.ListAuditEventsRequestObject) (api.ListAuditEventsResponseObject, error) {
	q := domainflow.AuditQuery{UserID: userID(ctx), Limit: defaultPageSize}
	if req.Params.Limit != nil {
		q.Limit = *req.Params.Limit
	}
	if req.Params.Cursor != nil {
		before, err := decodeCursor(auditCursor, *req.Params.Cursor)
		if err != nil {
			return nil, err
		}
		if before == 0 {
			// Event ids start at 1: nothing comes before id 0.
			return api.ListAuditEvents200JSONResponse{Body: api.AuditPage{Items: []api.AuditEvent{}, Limit: q.Limit}}, nil
		}
		q.Before = before
	}
	page, err := s.store.ListAudit(ctx, q)
	if err != nil {
		return nil, err
	}
	out := api.AuditPage{Items: make([]api.AuditEvent, len(page.Items)), Limit: q.Limit, HasMore: page.HasMore}
	for i, ev := range page.Items {
		out.Items[i] = api.AuditEvent{
			Id: ev.ID, At: ev.At, UserId: ev.UserID, UserName: ev.UserName, Address: ev.Address,
			Action: api.AuditEventAction(ev.Action), ResourceType: api.AuditEventResourceType(ev.ResourceType),
			ResourceId: ev.ResourceID, Detail: ev.Detail,
		}
		if out.Items[i].Detail == nil {
			out.Items[i].Detail = map[string]any{}
		}
	}
	if page.HasMore {
		next := encodeCursor(auditCursor, page.Items[len(page.Items)-1].ID)
		out.NextCursor = &next
	}
	return api.ListAuditEvents200JSONResponse{Body: out}, nil
}
