package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

func (s *Server) ListProxies(ctx context.Context, _ api.ListProxiesRequestObject) (api.ListProxiesResponseObject, error) {
	list, err := s.store.ListProxies(ctx, userID(ctx))
	if err != nil {
		return nil, err
	}
	out := api.ProxyList{Items: make([]api.Proxy, len(list))}
	for i, p := range list {
		out.Items[i] = apiProxy(p)
	}
	return api.ListProxies200JSONResponse(out), nil
}

// proxyFromCreate is the proxy a create body asks for.
func proxyFromCreate(userID uuid.UUID, b *api.ProxyCreate) *domainflow.Proxy {
	p := &domainflow.Proxy{
		UserID: userID, Name: b.Name, Protocol: string(b.Protocol), Host: b.Host, Port: b.Port,
		Enabled: b.Enabled == nil || *b.Enabled, Health: domainflow.HealthUnknown,
	}
	if b.Username != nil {
		p.Username = *b.Username
	}
	if b.Password != nil {
		p.Password = *b.Password
	}
	return p
}

// checkProxyBody runs the checks of CreateProxy on a body that failed the
// schema, so that its answer names those fields too.
func checkProxyBody(body []byte) []domainflow.FieldError {
	var create api.ProxyCreate
	if json.Unmarshal(body, &create) != nil {
		return nil
	}
	return invalidFields(proxyFromCreate(uuid.Nil, &create).Validate())
}

// resolveWithin bounds the lookup of a proxy's host name when it is added
// or moved (a name that does not resolve in time is judged when dialed).
const resolveWithin = 3 * time.Second

// checkProxyHost fails with EUNPROCESSABLE naming /host when the proxy's
// host is, or resolves to, an address the outbound guard refuses. The
// guard judges it again whenever the proxy is dialed.
func (s *Server) checkProxyHost(ctx context.Context, p *domainflow.Proxy) error {
	ctx, cancel := context.WithTimeout(ctx, resolveWithin)
	defer cancel()
	if err := s.guard.CheckHost(ctx, p.Host); err != nil {
		return &domainflow.Error{Code: domainflow.EUNPROCESSABLE,
			Message: "The proxy is at an address this instance does not connect to (loopback, private, link-local and other special-purpose ranges, unless its operator opened them).",
			Fields:  []domainflow.FieldError{{Pointer: "/host", Detail: err.Error()}}}
	}
	return nil
}

func (s *Server) CreateProxy(ctx context.Context, req api.CreateProxyRequestObject) (api.CreateProxyResponseObject, error) {
	p := proxyFromCreate(userID(ctx), req.Body)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkProxyHost(ctx, p); err != nil {
		return nil, err
	}
	if err := s.store.CreateProxyWithin(ctx, p, s.quotas); err != nil {
		return nil, err
	}
	s.events(domainflow.ProxyListEvent(p.UserID, domainflow.ProxyCreated, p.ID))
	return api.CreateProxy201JSONResponse(apiProxy(p)), nil
}

func (s *Server) GetProxy(ctx context.Context, req api.GetProxyRequestObject) (api.GetProxyResponseObject, error) {
	p, err := s.store.GetProxy(ctx, userID(ctx), req.ProxyId)
	if err != nil {
		return nil, err
	}
	return api.GetProxy200JSONResponse(apiProxy(p)), nil
}

// UpdateProxy changes only the fields given; the store keeps the health a
// check wrote meanwhile, or forgets it for a proxy moved (protocol, host or
// port).
func (s *Server) UpdateProxy(ctx context.Context, req api.UpdateProxyRequestObject) (api.UpdateProxyResponseObject, error) {
	p, err := s.store.GetProxy(ctx, userID(ctx), req.ProxyId)
	if err != nil {
		return nil, err
	}
	b := req.Body
	// The guard judges where a proxy is sent, not a rename: a proxy kept
	// from before an operator closed its range can still be renamed or
	// disabled.
	moved := (b.Host != nil && *b.Host != p.Host) || (b.Port != nil && *b.Port != p.Port)
	set(&p.Name, b.Name)
	set(&p.Host, b.Host)
	set(&p.Port, b.Port)
	set(&p.Username, b.Username)
	set(&p.Password, b.Password)
	set(&p.Enabled, b.Enabled)
	if b.Protocol != nil {
		p.Protocol = string(*b.Protocol)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if moved {
		if err := s.checkProxyHost(ctx, p); err != nil {
			return nil, err
		}
	}
	if err := s.store.UpdateProxy(ctx, p); err != nil {
		return nil, err
	}
	s.events(domainflow.ProxyListEvent(p.UserID, domainflow.ProxyUpdated, p.ID))
	return api.UpdateProxy200JSONResponse(apiProxy(p)), nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s *Server) DeleteProxy(ctx context.Context, req api.DeleteProxyRequestObject) (api.DeleteProxyResponseObject, error) {
	if err := s.store.DeleteProxy(ctx, userID(ctx), req.ProxyId); err != nil {
		return nil, err
	}
	s.events(domainflow.ProxyListEvent(userID(ctx), domainflow.ProxyDeleted, req.ProxyId))
	return api.DeleteProxy204Response{}, nil
}

// TestProxy checks the proxy now, records its health and answers the proxy
// as it is after the check: an edit made during the check stays (only the
// health is written), and a proxy moved during it keeps the health its move
// reset, not the health of its old address.
func (s *Server) TestProxy(ctx context.Context, req api.TestProxyRequestObject) (api.TestProxyResponseObject, error) {
	p, err := s.store.GetProxy(ctx, userID(ctx), req.ProxyId)
	if err != nil {
		return nil, err
	}
	changed := p.RecordCheck(s.proxies.CheckProxy(ctx, p))
	wrote, err := s.store.SetProxyHealth(ctx, p)
	if err != nil {
		return nil, err
	}
	if wrote && changed {
		s.events(domainflow.ProxyStatusEvent(p))
	}
	if p, err = s.store.GetProxy(ctx, userID(ctx), req.ProxyId); err != nil {
		return nil, err
	}
	return api.TestProxy200JSONResponse(apiProxy(p)), nil
}
