package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/domainflow/domainflow"
)

// Channel is the PostgreSQL notification channel the instances share.
const Channel = "domainflow_events"

const (
	// maxPayload is the largest NOTIFY payload: PostgreSQL requires fewer
	// than 8000 bytes. Progress is coalesced before it gets here, and
	// events carry summaries, never domain lists, so this is ample.
	maxPayload = 7999
	// queueSize is how many events may wait for pg_notify before Publish
	// fails rather than block.
	queueSize = 4096
	// drainTimeout bounds how long Close keeps sending queued events.
	drainTimeout = 5 * time.Second
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// PostgresBus is the Bus of instances sharing one PostgreSQL database:
// Publish queues the event and a goroutine sends it with pg_notify on
// Channel; a dedicated connection LISTENs on Channel and hands every event,
// this instance's own included, to the subscribers.
//
// If the listening connection drops, the bus reconnects with exponential
// backoff (100 ms to 5 s). Events notified while it is down are lost: they are
// hints, and clients recover on the next progress event or by polling REST.
type PostgresBus struct {
	log        *slog.Logger
	listenConf *pgx.ConnConfig
	pool       *pgxpool.Pool
	handlers   handlers

	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
	queue  chan []byte

	stopListening context.CancelFunc
	stopSending   context.CancelFunc
	listening     sync.WaitGroup
	sending       sync.WaitGroup
	closeOnce     sync.Once
}

var _ Bus = (*PostgresBus)(nil)

// NewPostgresBus connects to the database and starts listening. ctx bounds
// the connecting only; the bus runs until Close.
func NewPostgresBus(ctx context.Context, databaseURL string, logger *slog.Logger) (*PostgresBus, error) {
	if logger == nil {
		logger = slog.Default()
	}
	listenConf, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	listenConf.RuntimeParams["application_name"] = "domainflow events listener"
	poolConf, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	poolConf.MaxConns = 2
	poolConf.ConnConfig.RuntimeParams["application_name"] = "domainflow events notifier"

	conn, err := listen(ctx, listenConf)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolConf)
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	listenCtx, stopListening := context.WithCancel(context.Background())
	sendCtx, stopSending := context.WithCancel(context.Background())
	b := &PostgresBus{
		log:           logger,
		listenConf:    listenConf,
		pool:          pool,
		queue:         make(chan []byte, queueSize),
		stopListening: stopListening,
		stopSending:   stopSending,
	}
	b.listening.Go(func() { b.listenLoop(listenCtx, conn) })
	b.sending.Go(func() { b.sendLoop(sendCtx) })
	return b, nil
}

func listen(ctx context.Context, conf *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, conf)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// Publish queues ev for pg_notify. It fails at once, without blocking, if the
// event does not fit in a notification, the queue is full or the bus is
// closed.
func (b *PostgresBus) Publish(ev domainflow.Event) error {
	p, err := encodeEvent(ev)
	if err != nil {
		return domainflow.Errorf(domainflow.EINVALID, "The data of a %s event is not JSON: %v", ev.Type, err)
	}
	if len(p) > maxPayload {
		return domainflow.Errorf(domainflow.EINVALID,
			"A %s event of %d bytes does not fit in a PostgreSQL notification (fewer than 8000).", ev.Type, len(p))
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return domainflow.Errorf(domainflow.EUNAVAILABLE, "The event bus is closed.")
	}
	select {
	case b.queue <- p:
		return nil
	default:
		return domainflow.Errorf(domainflow.EUNAVAILABLE, "The event bus is backed up.")
	}
}

// Subscribe calls deliver, from the listening goroutine, with every event
// notified on Channel.
func (b *PostgresBus) Subscribe(deliver func(domainflow.Event)) func() {
	return b.handlers.add(deliver)
}

// sendLoop notifies the queued events one at a time, in order, until the
// queue is closed and drained or ctx is done. A failed notify is retried a
// few times (the pool replaces a broken connection), then the event is
// dropped.
func (b *PostgresBus) sendLoop(ctx context.Context) {
	for p := range b.queue {
		if ctx.Err() != nil {
			continue // Close's drain time is up: discard the rest
		}
		for attempt, backoff := 1, minBackoff; ; attempt, backoff = attempt+1, backoff*2 {
			_, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, string(p))
			if err == nil || ctx.Err() != nil {
				break
			}
			if attempt == 3 {
				b.log.Error("realtime: event lost, pg_notify failed", "err", err)
				break
			}
			b.log.Warn("realtime: pg_notify failed, retrying", "err", err, "attempt", attempt)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
		}
	}
}

// listenLoop waits for notifications and delivers them, reconnecting when
// the connection fails, until ctx is done.
func (b *PostgresBus) listenLoop(ctx context.Context, conn *pgx.Conn) {
	backoff := minBackoff
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	for {
		if conn == nil {
			var err error
			conn, err = listen(ctx, b.listenConf)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				b.log.Warn("realtime: cannot listen for events, retrying", "err", err, "in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			b.log.Info("realtime: listening for events again")
			backoff = minBackoff
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			closeConn(conn)
			conn = nil
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("realtime: lost the events connection, reconnecting", "err", err)
			continue
		}
		ev, err := decodeEvent([]byte(n.Payload))
		if err != nil {
			b.log.Warn("realtime: bad event on "+Channel, "err", err)
			continue
		}
		b.handlers.call(ev)
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// Close stops taking events, sends those queued (for up to 5 seconds), stops
// listening and closes the connections. Close the hubs using the bus first.
func (b *PostgresBus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.queue)
		b.mu.Unlock()
		t := time.AfterFunc(drainTimeout, b.stopSending)
		b.sending.Wait()
		t.Stop()
		b.stopSending()
		b.stopListening()
		b.listening.Wait()
		b.pool.Close()
	})
	return nil
}
