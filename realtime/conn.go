package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

const (
	// writeTimeout bounds one message's write. A client that reads slowly is
	// caught by its full buffer long before; this catches a dead socket.
	writeTimeout = 10 * time.Second
	// callTimeout bounds the hub's calls into the store.
	callTimeout = 10 * time.Second
	// maxBadMessages is how many bad client messages a connection may send;
	// the next one closes it with StatusPolicyViolation.
	maxBadMessages = 5
)

// message is an event ready for the wire, shared by every connection that
// sends it; each writer adds its own seq.
type message struct {
	typ      domainflow.EventType
	campaign *uuid.UUID
	time     time.Time
	data     json.RawMessage
	// version is the campaign's change version an event describes (0:
	// none), read from its data's "version". Events reach a connection by different paths — its
	// snapshot, this instance's flusher, another instance's through the bus —
	// so a connection drops one older than what it already sent: a client
	// never sees a campaign's state go back.
	version int64
}

// newMessage makes the wire form of ev.
func newMessage(ev domainflow.Event, data json.RawMessage) message {
	m := message{typ: ev.Type, campaign: ev.CampaignID, time: ev.Time, data: data}
	if ev.CampaignID != nil {
		m.version = dataVersion(data)
	}
	return m
}

// envelope is what a client receives.
type envelope struct {
	Type       domainflow.EventType `json:"type"`
	Seq        uint64               `json:"seq"`
	Time       string               `json:"time"`
	CampaignID *uuid.UUID           `json:"campaign_id,omitempty"`
	Data       json.RawMessage      `json:"data"`
}

// timeFormat is RFC 3339 with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// subscriber is one connection as the hub sees it.
type subscriber struct {
	user uuid.UUID
	// token is the id of the API token the connection was opened with (or
	// that made its ticket): the connection lives no longer than it.
	token uuid.UUID
	msgs  chan message
	// campaign narrows the connection to one campaign; nil: all the user's.
	campaign atomic.Pointer[uuid.UUID]

	once   sync.Once
	done   chan struct{} // closed by kick
	code   websocket.StatusCode
	reason string
}

// wants reports whether m passes the connection's narrowing: events without
// a campaign (proxies, system notifications) always do.
func (s *subscriber) wants(m message) bool {
	only := s.campaign.Load()
	return only == nil || m.campaign == nil || *m.campaign == *only
}

// kick asks the connection's writer to stop and close with code (0: without
// a close handshake). The first call wins.
func (s *subscriber) kick(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
}

func (s *subscriber) kicked() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serve runs an accepted connection until it closes. Its context is not the
// request's: the request is over once the connection is hijacked.
func (h *Hub) serve(c *websocket.Conn, access domainflow.Access) {
	c.SetReadLimit(int64(h.cfg.MaxMessageBytes))
	user := access.UserID
	s := &subscriber{user: user, token: access.TokenID, msgs: make(chan message, h.cfg.SendBuffer), done: make(chan struct{})}
	if !h.add(s) {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.readLoop(ctx, c, s) })
	wg.Go(func() { h.heartbeat(ctx, c, s) })

	// Registered first, then the snapshot read: an event published in
	// between waits in the buffer, behind the snapshot, instead of being lost.
	h.writeLoop(ctx, c, s, h.snapshot(ctx, user))

	h.kick(s, 0, "") // no-op if already kicked; removes s either way
	if s.code == 0 {
		c.CloseNow()
	} else {
		c.Close(s.code, s.reason) // the reader, still running, reads the peer's reply
	}
	cancel()
	wg.Wait()
}

// snapshot returns the current progress of the user's active campaigns.
func (h *Hub) snapshot(ctx context.Context, user uuid.UUID) []message {
	if h.cfg.ActiveCampaigns == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	cs, err := h.cfg.ActiveCampaigns(ctx, user)
	if err != nil {
		h.log.Warn("realtime: active campaigns", "user_id", user, "err", err)
		return nil
	}
	out := make([]message, 0, len(cs))
	for _, c := range cs {
		m, err := progressMessage(c)
		if err != nil {
			h.log.Warn("realtime: progress", "campaign_id", c.ID, "err", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

func progressMessage(c *domainflow.Campaign) (message, error) {
	ev := domainflow.ProgressEvent(c)
	ev.Time = time.Now()
	data, err := marshalData(ev.Data)
	return newMessage(ev, data), err
}

// writeLoop is the only writer of c: it sends the snapshot, then the
// buffered events, until s is kicked or a write fails.
func (h *Hub) writeLoop(ctx context.Context, c *websocket.Conn, s *subscriber, snapshot []message) {
	var seq uint64
	sentVersion := map[uuid.UUID]int64{} // by campaign; only this goroutine touches it
	write := func(m message) bool {
		if !s.wants(m) { // narrowed after it was queued
			return true
		}
		if m.version > 0 && m.campaign != nil {
			if m.version < sentVersion[*m.campaign] {
				return true // older than what the client already has
			}
			sentVersion[*m.campaign] = m.version
		}
		seq++
		b, err := json.Marshal(envelope{
			Type: m.typ, Seq: seq, Time: m.time.UTC().Format(timeFormat), CampaignID: m.campaign, Data: m.data,
		})
		if err != nil {
			h.log.Error("realtime: marshal envelope", "type", m.typ, "err", err)
			seq--
			return true
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = c.Write(wctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			h.log.Debug("realtime: write", "user_id", s.user, "err", err)
			return false
		}
		h.sent[m.typ].Add(1)
		return true
	}
	for _, m := range snapshot {
		if s.kicked() || !write(m) {
			return
		}
	}
	for {
		if s.kicked() { // before a ready message: select picks at random
			return
		}
		select {
		case <-s.done:
			return
		case m := <-s.msgs:
			if !write(m) {
				return
			}
		}
	}
}

// heartbeat pings every PingInterval; a peer that does not answer within an
// interval is dropped without a close handshake.
func (h *Hub) heartbeat(ctx context.Context, c *websocket.Conn, s *subscriber) {
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, h.cfg.PingInterval)
		err := c.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.log.Info("realtime: client does not answer pings, dropped", "user_id", s.user, "err", err)
			}
			h.kick(s, 0, "")
			return
		}
	}
}

// readLoop reads client messages until the connection fails. While it reads,
// coder/websocket answers pings and close frames.
func (h *Hub) readLoop(ctx context.Context, c *websocket.Conn, s *subscriber) {
	bad := 0
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			// Over MaxMessageBytes, coder/websocket has already sent a close
			// frame with StatusMessageTooBig (1009), the precise code for it
			// in RFC 6455; we keep it rather than say 1008.
			if errors.Is(err, websocket.ErrMessageTooBig) {
				h.kick(s, websocket.StatusMessageTooBig, "message too big")
			} else {
				h.kick(s, 0, "")
			}
			return
		}
		reply, isBad := h.handle(ctx, s, typ, b)
		if isBad {
			if bad++; bad > maxBadMessages {
				h.kick(s, websocket.StatusPolicyViolation, "too many bad messages")
				return
			}
		}
		if reply != nil {
			h.reply(s, *reply)
		}
	}
}

// clientMessage is what a client may send.
type clientMessage struct {
	Type       string  `json:"type"`
	CampaignID *string `json:"campaign_id"`
}

func errorMessage(code, msg string, retryable bool) *message {
	data, _ := json.Marshal(domainflow.ErrorEventData{Code: code, Message: msg, Retryable: retryable})
	return &message{typ: domainflow.EventError, time: time.Now(), data: data}
}

// handle acts on one client message and returns the reply, if any, and
// whether the message counts as bad.
func (h *Hub) handle(ctx context.Context, s *subscriber, typ websocket.MessageType, b []byte) (*message, bool) {
	invalid := func(msg string) (*message, bool) {
		return errorMessage(domainflow.EINVALID, msg, false), true
	}
	if typ != websocket.MessageText {
		return invalid("Send JSON text messages.")
	}
	var m clientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return invalid("The message is not a JSON object.")
	}
	switch m.Type {
	case "subscribe":
		if m.CampaignID == nil || *m.CampaignID == "" {
			return invalid("subscribe needs a campaign_id.")
		}
		id, err := uuid.Parse(*m.CampaignID)
		if err != nil {
			return invalid("campaign_id is not a UUID.")
		}
		var c *domainflow.Campaign
		if h.cfg.CampaignOwned == nil {
			err = domainflow.Errorf(domainflow.ENOTFOUND, "Campaign not found.")
		} else {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			c, err = h.cfg.CampaignOwned(cctx, s.user, id)
			cancel()
		}
		if err != nil {
			switch domainflow.ErrorCode(err) {
			case domainflow.ENOTFOUND:
				// The same words whether it is missing or someone else's.
				return errorMessage(domainflow.ENOTFOUND, "Campaign not found.", false), true
			case domainflow.EUNAVAILABLE:
				// The database is down: not a bug, and not the client's fault.
				return errorMessage(domainflow.EUNAVAILABLE, domainflow.ErrorMessage(err), true), false
			}
			h.log.Error("realtime: campaign owned", "campaign_id", id, "err", err)
			return errorMessage(domainflow.EINTERNAL, "Internal error.", true), false
		}
		s.campaign.Store(&id)
		p, err := progressMessage(c)
		if err != nil {
			h.log.Error("realtime: progress", "campaign_id", id, "err", err)
			return nil, false
		}
		return &p, false
	case "unsubscribe":
		s.campaign.Store(nil)
		return nil, false
	}
	return invalid(`Unknown message type: send "subscribe" or "unsubscribe".`)
}
