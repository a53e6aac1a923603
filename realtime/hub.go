// Package realtime adapts DomainFlow's events to WebSocket: the hub behind
// /api/v1/ws, on github.com/coder/websocket.
//
// The rest of the service calls Hub.Publish and never waits. An event goes
// through the Bus so that clients on every instance receive it; progress is
// coalesced before that, so neither the bus nor a client sees more than one
// campaign_progress (or domains_changed) per campaign per CoalesceInterval,
// and what they see is always the latest state:
//
//	engine ──Publish──► refuse forbidden types
//	                     │ campaign_progress,        │ other types (first
//	                     │ domains_changed           │ flushing that campaign's
//	                     ▼                           │ pending ones, for order)
//	                 pending[campaign] ─every 250ms─►│
//	                                                 ▼
//	                       Bus: in-process (SQLite), or pg_notify on
//	                            domainflow_events (PostgreSQL, < 8000 bytes)
//	                                                 │ LISTEN, on every
//	                                                 ▼ instance, this one too
//	                 Hub.deliver ──► the user's subscribers' bounded buffers
//	                                                 │ (full: closed, 1008
//	                                                 ▼  "too slow", removed)
//	                          one writer goroutine per connection ──► socket
//
// The hub follows coder/websocket's chat example with its two flaws fixed: a
// subscriber kicked for being slow is removed from the map at once, and the
// hub lock is never held while waiting on anything (fan-out is a
// non-blocking channel send).
//
// A client may send {"type":"subscribe","campaign_id":"…"} to narrow the
// connection to one of its campaigns (events without a campaign, proxies and
// system notifications, still pass), answered with that campaign's progress,
// and {"type":"unsubscribe"} to widen it again. Anything else, and a
// subscribe to a campaign that is missing or someone else's (one answer for
// both), is answered with an error event; the sixth such message closes the
// connection with StatusPolicyViolation. A message over MaxMessageBytes
// closes it with StatusMessageTooBig, as coder/websocket does.
//
// Each connection has three goroutines: the handler's, which writes (the
// snapshot of the user's active campaigns first, then live events, numbering
// them 1, 2, 3…); a reader for client messages (subscribe, unsubscribe),
// which also lets the library answer pings and close frames; and a heartbeat
// that pings every PingInterval and drops a peer that does not answer within
// one interval.
package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/bearer"
	"github.com/domainflow/domainflow/problem"
)

// Config configures a Hub. Only Authenticate is required.
type Config struct {
	Logger *slog.Logger // default slog.Default()

	// Authenticate returns what an API token grants (its user, its id), or
	// an EUNAUTHORIZED error.
	Authenticate func(ctx context.Context, token string) (domainflow.Access, error)
	// RedeemTicket consumes a single-use ticket (the ticket query
	// parameter) and returns what the token that made it grants, or an
	// EUNAUTHORIZED error. nil refuses every ticket.
	RedeemTicket func(ctx context.Context, ticket string) (domainflow.Access, error)
	// TokensAlive returns those of the token ids that are neither revoked
	// nor expired. The hub asks it every TokenCheckInterval about the
	// tokens of its open connections and closes the others' connections
	// (code 1008): a revoked token's socket does not go on receiving
	// events. nil never closes a connection for its token.
	TokensAlive        func(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, error)
	TokenCheckInterval time.Duration // default 1s
	// CampaignOwned returns the user's campaign, or an ENOTFOUND error when
	// it is missing or someone else's. It checks subscribe messages.
	CampaignOwned func(ctx context.Context, userID, campaignID uuid.UUID) (*domainflow.Campaign, error)
	// ActiveCampaigns returns the user's queued and running campaigns, whose
	// progress a new connection receives first.
	ActiveCampaigns func(ctx context.Context, userID uuid.UUID) ([]*domainflow.Campaign, error)

	// AllowedOrigins are host patterns (path.Match, e.g. "app.example.com",
	// "*.example.com") of the browser origins allowed besides the server's
	// own. Requests without an Origin header (non-browsers) are always fine.
	AllowedOrigins []string

	// MaxPerToken bounds the connections open at once with one API token on
	// this hub (the WebSockets quota; 0: no limit). The handshake past it is
	// answered 429 before upgrading. Each instance counts its own.
	MaxPerToken int64

	SendBuffer       int           // events queued per connection before it is dropped as too slow; default 64
	PingInterval     time.Duration // heartbeat and its timeout; default 30s
	CoalesceInterval time.Duration // at most one progress event per campaign per interval; default 250ms
	MaxMessageBytes  int           // largest client message; default 4096

	Bus Bus // nil: in-process, for a single instance
}

// Stats are the hub's counters, for the metrics exporter.
type Stats struct {
	Connections      int64                           // open now
	ConnectionsTotal uint64                          // accepted since start
	MessagesByType   map[domainflow.EventType]uint64 // written to clients, by event type
	Drops            uint64                          // clients closed for being too slow
	Refused          uint64                          // Publish calls with a forbidden type
}

// Hub fans events out to WebSocket connections. It is an http.Handler for
// /api/v1/ws. Create it with NewHub and stop it with Close.
type Hub struct {
	cfg         Config
	log         *slog.Logger
	bus         Bus
	unsubscribe func()

	// mu guards subs, perToken and closed. It is held only for map updates
	// and non-blocking channel sends.
	mu     sync.Mutex
	closed bool
	subs   map[uuid.UUID]map[*subscriber]struct{}
	// perToken counts the connections of each token (by its id), from
	// before the upgrade until the connection's end.
	perToken map[uuid.UUID]int64
	conns    sync.WaitGroup // ServeHTTP calls in flight

	// pendMu guards pending and stopped, and orders what goes to the bus.
	pendMu  sync.Mutex
	pending map[pendingKey]domainflow.Event
	stopped bool

	stop        chan struct{}
	flusherDone chan struct{}
	checkerDone chan struct{} // closed when tokenLoop returns
	closeOnce   sync.Once

	connections      atomic.Int64
	connectionsTotal atomic.Uint64
	drops            atomic.Uint64
	refused          atomic.Uint64
	sent             map[domainflow.EventType]*atomic.Uint64 // keys fixed at NewHub
}

type pendingKey struct {
	campaign uuid.UUID
	typ      domainflow.EventType
}

// NewHub returns a running hub: it subscribes to the bus and starts the
// coalescing flusher. Close stops both.
func NewHub(cfg Config) *Hub {
	if cfg.Authenticate == nil {
		panic("realtime: Config.Authenticate is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = 64
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.CoalesceInterval <= 0 {
		cfg.CoalesceInterval = 250 * time.Millisecond
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 4096
	}
	if cfg.TokenCheckInterval <= 0 {
		cfg.TokenCheckInterval = time.Second
	}
	h := &Hub{
		cfg:         cfg,
		log:         cfg.Logger,
		bus:         cfg.Bus,
		subs:        make(map[uuid.UUID]map[*subscriber]struct{}),
		perToken:    make(map[uuid.UUID]int64),
		pending:     make(map[pendingKey]domainflow.Event),
		stop:        make(chan struct{}),
		flusherDone: make(chan struct{}),
		checkerDone: make(chan struct{}),
		sent:        make(map[domainflow.EventType]*atomic.Uint64),
	}
	if h.bus == nil {
		h.bus = &localBus{}
	}
	for _, typ := range domainflow.EventTypes() {
		h.sent[typ] = new(atomic.Uint64)
	}
	h.unsubscribe = h.bus.Subscribe(h.deliver)
	go h.flushLoop()
	go h.tokenLoop()
	return h
}

// tokenLoop closes, every TokenCheckInterval, the connections whose token
// was revoked or has expired since they opened, until the hub closes.
func (h *Hub) tokenLoop() {
	defer close(h.checkerDone)
	if h.cfg.TokensAlive == nil {
		<-h.stop
		return
	}
	t := time.NewTicker(h.cfg.TokenCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.checkTokens()
		}
	}
}

func (h *Hub) checkTokens() {
	h.mu.Lock()
	var ids []uuid.UUID
	for id := range h.perToken {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.TokenCheckInterval)
	defer cancel()
	alive, err := h.cfg.TokensAlive(ctx, ids)
	if err != nil {
		// The database is away: the connections stay until it can say.
		h.log.Debug("realtime: check the tokens of open connections", "err", err)
		return
	}
	dead := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		dead[id] = true
	}
	for _, id := range alive {
		delete(dead, id)
	}
	var gone []*subscriber
	h.mu.Lock()
	for _, set := range h.subs {
		for s := range set {
			// Only tokens that were asked about: a connection opened while
			// the question was out waits for the next tick.
			if dead[s.token] {
				gone = append(gone, s)
			}
		}
	}
	for _, s := range gone {
		h.removeLocked(s)
	}
	h.mu.Unlock()
	for _, s := range gone {
		s.kick(websocket.StatusPolicyViolation, "token revoked or expired")
	}
}

// Publish sends ev to its user's connections on every instance. It never
// blocks. It returns an EINVALID error for a type that is not sent to clients
// (counted in Stats.Refused), a missing user or campaign, or data that is not
// JSON; an EUNAVAILABLE error when the hub is closed or the bus cannot take
// the event.
//
// campaign_progress and domains_changed are coalesced per campaign: only the
// latest is kept and it leaves within CoalesceInterval, or at once before any
// other event about the same campaign, so a client never sees a stale
// progress after a phase_transition or campaign_completed.
func (h *Hub) Publish(ev domainflow.Event) error {
	if !ev.Type.Known() {
		h.refused.Add(1)
		return domainflow.Errorf(domainflow.EINVALID, "domainflow.Event type %q is not sent to clients.", ev.Type)
	}
	if ev.UserID == uuid.Nil && ev.Type != domainflow.EventSystemNotification {
		return domainflow.Errorf(domainflow.EINVALID, "A %s event needs a user.", ev.Type)
	}
	if ev.CampaignID != nil {
		id := *ev.CampaignID // the caller may reuse its variable
		ev.CampaignID = &id
	} else if ev.Type.Coalesced() {
		return domainflow.Errorf(domainflow.EINVALID, "A %s event needs a campaign.", ev.Type)
	}
	data, err := marshalData(ev.Data)
	if err != nil {
		return domainflow.Errorf(domainflow.EINVALID, "The data of a %s event is not JSON: %v", ev.Type, err)
	}
	ev.Data = data
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}

	h.pendMu.Lock()
	defer h.pendMu.Unlock()
	if h.stopped {
		return domainflow.Errorf(domainflow.EUNAVAILABLE, "The event hub is closed.")
	}
	if ev.Type.Coalesced() {
		// Events are published after their writes commit, but by different
		// goroutines: one that committed earlier may arrive later, and must
		// not replace the newer state waiting to leave.
		k := pendingKey{*ev.CampaignID, ev.Type}
		if p, ok := h.pending[k]; !ok || dataVersion(p.Data.(json.RawMessage)) <= dataVersion(data) {
			h.pending[k] = ev
		}
		return nil
	}
	if ev.CampaignID != nil {
		for _, typ := range [...]domainflow.EventType{domainflow.EventCampaignProgress, domainflow.EventDomainsChanged} {
			k := pendingKey{*ev.CampaignID, typ}
			if p, ok := h.pending[k]; ok {
				delete(h.pending, k)
				h.busPublish(p)
			}
		}
	}
	return h.bus.Publish(ev)
}

// busPublish sends a coalesced event, which has no caller left to tell.
func (h *Hub) busPublish(ev domainflow.Event) {
	if err := h.bus.Publish(ev); err != nil {
		h.log.Warn("realtime: event lost", "type", ev.Type, "campaign_id", ev.CampaignID, "err", err)
	}
}

// flushLoop sends the pending coalesced events every CoalesceInterval, and
// once more when the hub closes, so other instances get the last state.
func (h *Hub) flushLoop() {
	defer close(h.flusherDone)
	t := time.NewTicker(h.cfg.CoalesceInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.flush()
		case <-h.stop:
			h.flush()
			return
		}
	}
}

func (h *Hub) flush() {
	h.pendMu.Lock()
	defer h.pendMu.Unlock()
	for k, ev := range h.pending {
		delete(h.pending, k)
		h.busPublish(ev)
	}
}

// deliver is the bus's callback: it offers ev to the local connections of
// its user (of everyone for a system_notification without a user).
func (h *Hub) deliver(ev domainflow.Event) {
	if !ev.Type.Known() { // from an instance running other code
		return
	}
	data, err := marshalData(ev.Data)
	if err != nil {
		h.log.Warn("realtime: event with bad data", "type", ev.Type, "err", err)
		return
	}
	m := newMessage(ev, data)
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.UserID == uuid.Nil {
		for _, set := range h.subs {
			for s := range set {
				h.offerLocked(s, m)
			}
		}
		return
	}
	for s := range h.subs[ev.UserID] {
		h.offerLocked(s, m)
	}
}

// offerLocked queues m for s without waiting; a full buffer means s cannot
// keep up, and s is closed and forgotten, so nobody else waits for it.
func (h *Hub) offerLocked(s *subscriber, m message) {
	if !s.wants(m) {
		return
	}
	select {
	case s.msgs <- m:
	default:
		if h.removeLocked(s) {
			h.drops.Add(1)
			h.log.Info("realtime: client too slow, disconnected", "user_id", s.user)
		}
		s.kick(websocket.StatusPolicyViolation, "too slow")
	}
}

// reply queues a message for one connection, as fan-out does.
func (h *Hub) reply(s *subscriber, m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offerLocked(s, m)
}

// add registers s, unless the hub is closed.
func (h *Hub) add(s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	set := h.subs[s.user]
	if set == nil {
		set = make(map[*subscriber]struct{})
		h.subs[s.user] = set
	}
	set[s] = struct{}{}
	h.connections.Add(1)
	h.connectionsTotal.Add(1)
	return true
}

// kick removes s and has its connection closed with code (0: without a
// close handshake).
func (h *Hub) kick(s *subscriber, code websocket.StatusCode, reason string) {
	h.mu.Lock()
	h.removeLocked(s)
	h.mu.Unlock()
	s.kick(code, reason)
}

// removeLocked forgets s and reports whether it was registered.
func (h *Hub) removeLocked(s *subscriber) bool {
	set, ok := h.subs[s.user]
	if !ok {
		return false
	}
	if _, ok := set[s]; !ok {
		return false
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.user)
	}
	h.connections.Add(-1)
	return true
}

// Close closes every connection with StatusGoingAway, sends the pending
// coalesced events, leaves the bus and waits for the connections' goroutines
// (each close handshake is bounded by coder/websocket's 5-second timeouts).
// http.Server.Shutdown does not do this: hijacked connections are not its
// business. ServeHTTP answers 503 afterwards. The Bus is the caller's to
// close, after the hub.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		var all []*subscriber
		for _, set := range h.subs {
			for s := range set {
				all = append(all, s)
			}
		}
		for _, s := range all {
			h.removeLocked(s)
		}
		h.mu.Unlock()
		for _, s := range all {
			s.kick(websocket.StatusGoingAway, "server shutting down")
		}

		h.pendMu.Lock()
		h.stopped = true
		h.pendMu.Unlock()
		close(h.stop)
		<-h.flusherDone
		<-h.checkerDone
		h.unsubscribe()
	})
	h.conns.Wait()
}

// reserve counts one more connection of the token, unless that passes
// MaxPerToken: EQUOTAWEBSOCKETS. release uncounts it.
func (h *Hub) reserve(key uuid.UUID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.perToken[key]
	if err := (domainflow.Quotas{WebSockets: h.cfg.MaxPerToken}).CheckWebSockets(n); err != nil {
		return err
	}
	h.perToken[key] = n + 1
	return nil
}

func (h *Hub) release(key uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.perToken[key] - 1; n > 0 {
		h.perToken[key] = n
	} else {
		delete(h.perToken, key)
	}
}

// TokenConnections returns how many connections are open on this hub with
// the token (by its id; a ticket counts for the token that made it): what
// MaxPerToken bounds.
func (h *Hub) TokenConnections(key uuid.UUID) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perToken[key]
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	st := Stats{
		Connections:      h.connections.Load(),
		ConnectionsTotal: h.connectionsTotal.Load(),
		MessagesByType:   make(map[domainflow.EventType]uint64, len(h.sent)),
		Drops:            h.drops.Load(),
		Refused:          h.refused.Load(),
	}
	for typ, n := range h.sent {
		st.MessagesByType[typ] = n.Load()
	}
	return st
}

// ServeHTTP authenticates the request, upgrades it and serves the connection
// until it closes. A missing or bad token or ticket is answered 401 before
// upgrading; a token with MaxPerToken connections open already, 429 (code
// quota_websockets); an origin that is not allowed, 403 (by
// websocket.Accept); a closed hub, 503.
// Refusals are problem+json documents, as the REST API answers (package
// problem), and only internal errors are logged.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		problem.Respond(h.log, w, r, domainflow.Errorf(domainflow.EUNAVAILABLE, "The server is shutting down."))
		return
	}
	h.conns.Add(1)
	h.mu.Unlock()
	defer h.conns.Done()

	access, err := h.authenticate(r)
	if err != nil {
		// Internal errors and an unavailable store say so; any other answer
		// refuses the credentials.
		if p := problem.Classify(err); !p.Internal && p.Code != domainflow.EUNAVAILABLE && p.Code != domainflow.EUNAUTHORIZED {
			err = domainflow.Errorf(domainflow.EUNAUTHORIZED, "The API token is not valid.")
		}
		problem.Respond(h.log, w, r, err)
		return
	}
	if err := h.reserve(access.TokenID); err != nil {
		problem.Respond(h.log, w, r, err)
		return
	}
	defer h.release(access.TokenID)

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.AllowedOrigins})
	if err != nil {
		h.log.Debug("realtime: upgrade refused", "err", err) // Accept has answered
		return
	}
	h.serve(c, access)
}

// authenticate returns the user a handshake acts for: by its Authorization
// header; without one, by its single-use ticket; without either, by the
// token in its access_token query parameter (kept for old clients).
func (h *Hub) authenticate(r *http.Request) (domainflow.Access, error) {
	if ticket, ok := bearer.Ticket(r); ok {
		if h.cfg.RedeemTicket == nil {
			return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED, "This server takes no tickets; send an API token.")
		}
		return h.cfg.RedeemTicket(r.Context(), ticket)
	}
	token, ok := bearer.FromHeaderOrQuery(r)
	if !ok {
		return domainflow.Access{}, domainflow.Errorf(domainflow.EUNAUTHORIZED,
			"Send an API token as Authorization: Bearer <token>, or a ticket from POST /api/v1/ws/ticket as the %s query parameter.",
			bearer.TicketParameter)
	}
	return h.cfg.Authenticate(r.Context(), token)
}

// compile-time check that the hub is what the router mounts.
var _ http.Handler = (*Hub)(nil)
