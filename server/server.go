// Package server is DomainFlow's HTTP face: echo handlers implementing the
// strict interface generated from openapi/openapi.yaml, authentication,
// problem+json errors (through package problem), conditional requests,
// access logs and the docs.
package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // mounted at /debug/pprof only with Config.Pprof
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/swaggest/swgui/v5emb"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/bearer"
	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/netguard"
	"github.com/domainflow/domainflow/openapi"
)

// Store is what the handlers need of storage.
type Store interface {
	Dialect() string
	Ping(ctx context.Context) error
	Authenticate(ctx context.Context, token string) (*domainflow.Access, error)
	Revocations(ctx context.Context) (int64, error)

	IssueToken(ctx context.Context, n domainflow.NewToken) (*domainflow.Token, string, error)
	ListTokens(ctx context.Context, userID uuid.UUID) ([]*domainflow.Token, error)
	RevokeToken(ctx context.Context, userID, id uuid.UUID) error
	CreateTicket(ctx context.Context, a domainflow.Access) (string, time.Time, error)

	CreateCampaign(ctx context.Context, c *domainflow.Campaign) error
	GetCampaign(ctx context.Context, userID, id uuid.UUID) (*domainflow.Campaign, error)
	CampaignVersion(ctx context.Context, userID, id uuid.UUID) (int64, error)
	ListCampaigns(ctx context.Context, userID uuid.UUID, status string, limit int, offset int64) (*domainflow.CampaignPage, error)
	CampaignListState(ctx context.Context, userID uuid.UUID, status string) (string, error)
	ListDomains(ctx context.Context, userID, campaignID uuid.UUID, f domainflow.DomainFilter, p domainflow.PageRequest) (*domainflow.DomainPage, error)
	DomainPages(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, f domainflow.DomainFilter, p domainflow.PageRequest) ([]*domainflow.DomainPage, error)

	// CreateProxyWithin stores a new proxy if the user's Proxies quota
	// allows it.
	CreateProxyWithin(ctx context.Context, p *domainflow.Proxy, q domainflow.Quotas) error
	GetProxy(ctx context.Context, userID, id uuid.UUID) (*domainflow.Proxy, error)
	ListProxies(ctx context.Context, userID uuid.UUID) ([]*domainflow.Proxy, error)
	UpdateProxy(ctx context.Context, p *domainflow.Proxy) error
	SetProxyHealth(ctx context.Context, p *domainflow.Proxy) (bool, error)
	DeleteProxy(ctx context.Context, userID, id uuid.UUID) error

	GetUser(ctx context.Context, id uuid.UUID) (*domainflow.User, error)
	// Usage is what the user has of the quotas kept in the database.
	Usage(ctx context.Context, userID uuid.UUID) (domainflow.Usage, error)
	ListAudit(ctx context.Context, q domainflow.AuditQuery) (*domainflow.AuditPage, error)
}

// Engine makes the decisions about campaigns the handlers translate: it
// checks and creates them, applies lifecycle calls and deletes them.
type Engine interface {
	CreateCampaign(ctx context.Context, n domainflow.NewCampaign) (*domainflow.Campaign, error)
	Act(ctx context.Context, userID, id uuid.UUID, action domainflow.Action) (*domainflow.Campaign, error)
	DeleteCampaign(ctx context.Context, userID, id uuid.UUID) error
}

// noEngine is the Engine of a server that only serves reads.
type noEngine struct{}

var errNoEngine = domainflow.Errorf(domainflow.EUNAVAILABLE, "This instance runs no engine.")

func (noEngine) CreateCampaign(context.Context, domainflow.NewCampaign) (*domainflow.Campaign, error) {
	return nil, errNoEngine
}

func (noEngine) Act(context.Context, uuid.UUID, uuid.UUID, domainflow.Action) (*domainflow.Campaign, error) {
	return nil, errNoEngine
}

func (noEngine) DeleteCampaign(context.Context, uuid.UUID, uuid.UUID) error { return errNoEngine }

// ProxyChecker tests a proxy now; the server records what it finds.
type ProxyChecker interface {
	CheckProxy(ctx context.Context, p *domainflow.Proxy) (latencyMS float64, err error)
}

// Config is what New needs.
type Config struct {
	Store   Store
	Engine  Engine
	Proxies ProxyChecker
	Logger  *slog.Logger
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes string
	// RateLimit is each token's budget; a zero Rate turns it off.
	RateLimit RateLimit
	// Realtime serves the event WebSocket at /api/v1/ws; nil answers 503.
	Realtime http.Handler
	// Metrics registers the service's metrics and serves /metrics; nil
	// turns both off.
	Metrics *Metrics
	// Pprof mounts net/http/pprof at /debug/pprof.
	Pprof bool
	// Events tells the users' WebSocket clients what a proxy call changed;
	// nil tells no one. (The engine tells them about campaigns.)
	Events func(domainflow.Event)
	// Dashboard is the built web app served at /; nil serves none.
	Dashboard fs.FS
	// Quotas are what each user may have (zero: no limit). The server
	// holds proxies to them and shows them at /api/v1/me; the engine and
	// the hub enforce the others.
	Quotas domainflow.Quotas
	// WebSockets counts the event WebSockets open on this instance with the
	// token whose SHA-256 is given, for /api/v1/me; nil counts none.
	WebSockets func(tokenID uuid.UUID) int64
	// TrustedProxies are the addresses of the reverse proxies in front of
	// the service. A request from one of them is taken to come from the
	// address it names in X-Forwarded-For; without any, the client is the
	// TCP peer and the header is ignored (see clientIP).
	TrustedProxies []netip.Prefix
	// AllowedNetworks are the ranges the outbound guard (package netguard)
	// opens on top of what it lets through by default: a proxy whose host
	// is, or resolves to, an address it refuses cannot be added (422).
	// Testing a proxy is Proxies' business, with its own guard.
	AllowedNetworks []netip.Prefix
}

// Server implements the generated strict server interface.
type Server struct {
	store   Store
	engine  Engine
	proxies ProxyChecker
	log     *slog.Logger
	tokens  *tokenCache
	limiter *limiter // nil: no rate limit
	events  func(domainflow.Event)
	quotas  domainflow.Quotas
	sockets func(tokenID uuid.UUID) int64
	guard   *netguard.Guard
}

var _ api.StrictServerInterface = (*Server)(nil)

// New returns the whole HTTP service as one handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.MaxBodyBytes == "" {
		cfg.MaxBodyBytes = "1M"
	}
	s := &Server{store: cfg.Store, engine: cfg.Engine, proxies: cfg.Proxies, log: cfg.Logger,
		tokens: newTokenCache(cfg.Store, tokenCacheMaxAge, tokenCacheRecheck), events: cfg.Events, quotas: cfg.Quotas, sockets: cfg.WebSockets,
		guard: netguard.New(cfg.AllowedNetworks)}
	if s.sockets == nil {
		s.sockets = func(uuid.UUID) int64 { return 0 }
	}
	if s.engine == nil {
		s.engine = noEngine{}
	}
	if s.events == nil {
		s.events = func(domainflow.Event) {}
	}
	if cfg.RateLimit.Rate > 0 {
		if cfg.RateLimit.Burst < 1 {
			return nil, fmt.Errorf("rate limit burst must be at least 1, not %d", cfg.RateLimit.Burst)
		}
		s.limiter = newLimiter(cfg.RateLimit)
	}

	swagger, err := api.GetSpec()
	if err != nil {
		return nil, err
	}
	validate, err := RequestValidator(swagger, map[string]BodyCheck{
		"createCampaign": checkCampaignBody, "createProxy": checkProxyBody, "getBulkEnrichedData": checkBulkBody,
		"createToken": checkTokenBody})
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(cfg.TrustedProxies)
	e.HTTPErrorHandler = HTTPErrorHandler(cfg.Logger)
	e.Use(RequestID(), AccessLog(cfg.Logger))
	if cfg.Metrics != nil {
		e.Use(cfg.Metrics.middleware)
		e.GET("/metrics", echo.WrapHandler(cfg.Metrics.Handler()))
	}
	e.Use(noCache)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			// The stack goes to the log; the client gets a 500 problem.
			s.log.Error("handler panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"method", c.Request().Method, "path", c.Request().URL.Path, "err", err, "stack", string(stack))
			return err
		}}))
	e.Use(middleware.BodyLimit(cfg.MaxBodyBytes))
	e.Use(s.authenticate)
	e.Use(validate)

	api.RegisterHandlers(e, api.NewStrictHandler(s, nil))
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.Spec)
	})
	docs := v5emb.New("DomainFlow API", "/openapi.yaml", "/docs/")
	e.GET("/docs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/docs/") })
	e.GET("/docs/*", echo.WrapHandler(docs))
	if cfg.Realtime != nil {
		e.GET("/api/v1/ws", echo.WrapHandler(cfg.Realtime))
	} else {
		e.GET("/api/v1/ws", func(c echo.Context) error {
			return domainflow.Errorf(domainflow.EUNAVAILABLE, "The event WebSocket is not served by this instance.")
		})
	}
	if cfg.Dashboard != nil {
		e.GET("/", dashboard(cfg.Dashboard))
		e.GET("/*", dashboard(cfg.Dashboard))
	}
	if cfg.Pprof {
		e.GET("/debug/pprof/*", echo.WrapHandler(http.DefaultServeMux))
	}
	return e, nil
}

// clientIP returns how a client's address is told, for the per-address
// rate limit and the access log. Without trusted proxies it is the TCP
// peer: echo's default would believe X-Forwarded-For from anyone, and a
// client sending a new address with every request would get a new budget
// with each. Behind trusted proxies it is the nearest address in
// X-Forwarded-For that is not one of them — and only they are trusted, not
// echo's defaults (every loopback, link-local and private address).
func clientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

type accessKey struct{}

// accessOf returns what the token of a request under /api/v1 grants.
func accessOf(ctx context.Context) domainflow.Access {
	a, _ := ctx.Value(accessKey{}).(domainflow.Access)
	return a
}

// userID returns the authenticated user of a request under /api/v1.
func userID(ctx context.Context) uuid.UUID { return accessOf(ctx).UserID }

// authenticate resolves the bearer token of every /api/v1 request and takes
// the request from its rate-limit budget: the token's, or for a request
// without a valid token, the client address's. Other paths (health, docs,
// metrics) are public and unlimited. It runs before validation so that a
// request without credentials learns nothing about the API's parameters.
// The WebSocket authenticates itself (browsers pass a ticket in the query).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Request().URL.Path
		if !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/ws" {
			return next(c)
		}
		token, ok := bearer.FromHeader(c.Request())
		var access *domainflow.Access
		var err error = domainflow.Errorf(domainflow.EUNAUTHORIZED, "Send an API token as Authorization: Bearer <token>.")
		key := sha256.Sum256([]byte(token)) // the cache's key, and the limiter's: no secrets kept in memory
		if ok {
			access, err = s.tokens.authenticate(c.Request().Context(), key, token)
		}
		if err != nil {
			if domainflow.ErrorCode(err) == domainflow.EUNAUTHORIZED && s.limiter != nil {
				b, lerr := s.limiter.admit(c, "addr:"+c.RealIP())
				if lerr != nil {
					return lerr
				}
				b.take(c)
			}
			return err
		}
		var b *bucket
		if s.limiter != nil {
			if b, err = s.limiter.admit(c, "token:"+string(key[:])); err != nil {
				return err
			}
		}
		// The request's actor: the store audits the changes it makes
		// under it, with the client's address as clientIP tells it.
		req := c.Request()
		ctx := context.WithValue(req.Context(), accessKey{}, *access)
		ctx = domainflow.WithActor(ctx, domainflow.Actor{UserID: access.UserID, Address: c.RealIP()})
		c.SetRequest(req.WithContext(ctx))
		err = next(c)
		b.take(c)
		return err
	}
}

// GetHealth answers while the process is up.
func (s *Server) GetHealth(ctx context.Context, _ api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	return api.GetHealth200JSONResponse{Status: api.HealthStatusOk}, nil
}

// GetReady answers 200 when the database answers, 503 otherwise.
func (s *Server) GetReady(ctx context.Context, _ api.GetReadyRequestObject) (api.GetReadyResponseObject, error) {
	if err := s.store.Ping(ctx); err != nil {
		return nil, err
	}
	dialect := s.store.Dialect()
	return api.GetReady200JSONResponse{Status: api.HealthStatusOk, Database: &dialect}, nil
}
