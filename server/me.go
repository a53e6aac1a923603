package server

import (
	"context"

	"github.com/domainflow/domainflow/gen/api"
)

// GetMe answers the caller, their quotas and what they use of them: the
// database's counts, and the WebSockets of the call's token on this
// instance.
func (s *Server) GetMe(ctx context.Context, _ api.GetMeRequestObject) (api.GetMeResponseObject, error) {
	u, err := s.store.GetUser(ctx, userID(ctx))
	if err != nil {
		return nil, err
	}
	use, err := s.store.Usage(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	q := s.quotas
	return api.GetMe200JSONResponse{
		Id: u.ID, Name: u.Name,
		Quotas: api.Quotas{RunningCampaigns: q.RunningCampaigns, CampaignDomains: q.CampaignDomains,
			StoredDomains: q.StoredDomains, Websockets: q.WebSockets, Proxies: q.Proxies},
		Usage: api.QuotaUsage{RunningCampaigns: use.RunningCampaigns, StoredDomains: use.StoredDomains,
			Websockets: s.sockets(accessOf(ctx).TokenID), Proxies: use.Proxies},
	}, nil
}
