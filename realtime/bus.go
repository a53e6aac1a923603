package realtime

import (
	"sync"

	"github.com/domainflow/domainflow"
)

// Bus carries events to the hubs of every instance of the service, the
// publishing instance's own included: a hub delivers to its clients only what
// comes back from the bus, so each event reaches each client exactly once
// whichever instance the client is connected to.
//
// A nil Config.Bus means one instance (SQLite): the hub uses an in-process
// bus. With PostgreSQL, use a PostgresBus.
type Bus interface {
	// Publish hands ev to the bus. It must not block: the hub calls it from
	// Publish's caller and under its coalescing lock. A bus that talks to
	// the network queues ev, sends it from its own goroutine and returns an
	// error at once when it cannot (queue full, event too large, closed).
	// ev.Data is already JSON (json.RawMessage).
	Publish(ev domainflow.Event) error
	// Subscribe calls deliver with every event published on any instance,
	// from one goroutine, in the order each instance published them, until
	// the returned function is called. deliver must not block.
	Subscribe(deliver func(domainflow.Event)) (unsubscribe func())
}

// handlers is the subscriber list both buses share.
type handlers struct {
	mu   sync.RWMutex
	next int
	m    map[int]func(domainflow.Event)
}

func (h *handlers) add(f func(domainflow.Event)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[int]func(domainflow.Event))
	}
	id := h.next
	h.next++
	h.m[id] = f
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.m, id)
	}
}

func (h *handlers) call(ev domainflow.Event) {
	h.mu.RLock()
	fs := make([]func(domainflow.Event), 0, len(h.m))
	for _, f := range h.m {
		fs = append(fs, f)
	}
	h.mu.RUnlock()
	for _, f := range fs {
		f(ev)
	}
}

// localBus delivers in-process, synchronously: with one instance there is no
// one else to tell.
type localBus struct{ handlers handlers }

func (b *localBus) Publish(ev domainflow.Event) error { b.handlers.call(ev); return nil }

func (b *localBus) Subscribe(deliver func(domainflow.Event)) func() { return b.handlers.add(deliver) }
