package store_test

import (
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/store/storetest"
)

// link is a TCP forwarder to the test PostgreSQL server that can be cut
// (its listener closed and every connection through it dropped, as when the
// database host goes away) and restored on the same address.
type link struct {
	upstream string
	addr     string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newLink(t *testing.T, upstream string) *link {
	l := &link{upstream: upstream, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	l.restore(t)
	t.Cleanup(func() { l.cut(); l.wg.Wait() })
	return l
}

func (l *link) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.ln, l.addr = ln, ln.Addr().String()
	l.mu.Unlock()
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", l.upstream)
			if err != nil {
				c.Close()
				continue
			}
			if !l.track(c, up) {
				return
			}
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				l.wg.Go(func() {
					io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				})
			}
		}
	})
}

// track records the connections, or closes them if the link was cut
// meanwhile.
func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		l.conns[c] = true
	}
	return true
}

func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// While the database cannot be reached, every method of the store fails
// with EUNAVAILABLE — plain queries, transactions, the token lookup — and
// works again as soon as it can. (PostgreSQL only: SQLite is a file.)
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	target, err := url.Parse(storetest.URL(t, store.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(t, target.Host)
	target.Host = l.addr
	db, err := store.Open(ctx, target.String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	alice := newUser(t, db, "alice")
	token, err := db.CreateToken(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	c := newCampaign(t, db, alice)
	access, err := db.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		do   func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"Authenticate", func() error { _, err := db.Authenticate(ctx, token); return err }},
		{"Revocations", func() error { _, err := db.Revocations(ctx); return err }},
		{"CreateTicket", func() error { _, _, err := db.CreateTicket(ctx, *access); return err }},
		{"GetCampaign", func() error { _, err := db.GetCampaign(ctx, alice, c.ID); return err }},
		{"ListCampaigns", func() error { _, err := db.ListCampaigns(ctx, alice, "", 10, 0); return err }},
		{"CreateCampaign", func() error {
			cp := *c
			cp.ID = uuid.Nil
			return db.CreateCampaign(ctx, &cp)
		}},
		{"ListDomains", func() error {
			_, err := db.ListDomains(ctx, alice, c.ID, domainflow.DomainFilter{}, domainflow.PageRequest{Limit: 10, After: -1})
			return err
		}},
		{"InsertDomains (a transaction)", func() error {
			_, _, err := db.InsertDomains(ctx, alice, c.ID, domains(c.ID, 0, 3))
			return err
		}},
		{"ListProxies", func() error { _, err := db.ListProxies(ctx, alice); return err }},
	}

	l.cut()
	for _, call := range calls {
		if err := call.do(); code(err) != domainflow.EUNAVAILABLE {
			t.Errorf("%s with the database unreachable: %v (code %q), want code %q", call.name, err, code(err), domainflow.EUNAVAILABLE)
		}
	}
	l.restore(t)
	for _, call := range calls {
		if err := call.do(); err != nil {
			t.Errorf("%s with the database back: %v", call.name, err)
		}
	}
}
