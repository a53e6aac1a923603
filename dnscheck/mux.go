package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file holds the UDP multiplexer: a few long-lived connected UDP sockets
// per resolver, each with one reader goroutine that hands every reply to the
// caller waiting for its message ID (and question). Callers never dial; a
// query costs one write, one wake-up and no new file descriptor.

var (
	// errTimeout is an attempt that got no usable reply before its deadline.
	errTimeout = errors.New("no reply before the timeout")
	// errClosed is a query on a Resolver that has been closed.
	errClosed = errors.New("dnscheck: resolver closed")
	// errBusy is a socket with no free message ID (65,536 in flight).
	errBusy = errors.New("too many queries in flight on one socket")
)

// bogusError is an attempt that got no valid reply while the resolver's
// socket received datagrams that were malformed, or answered IDs or
// questions nobody asked: a broken or spoofing peer, not a silent one.
type bogusError struct {
	addr string
	n    uint64
}

func (e *bogusError) Error() string {
	return fmt.Sprintf("no valid reply from %s: %d malformed or mismatched datagrams received", e.addr, e.n)
}

// reply is what the reader hands a waiting caller.
type reply struct {
	b   []byte
	err error
}

// call is one query waiting for its reply. Calls are pooled; ch has room for
// exactly the one reply the reader (or failAll) sends after removing the call
// from the pending map, so a send never blocks.
type call struct {
	ch chan reply
	q  []byte // the query's question section, to match the reply's
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan reply, 1)} }}

// slot is a pending map entry: a live call, or the tombstone of a call that
// gave up, kept so that its late reply is dropped quietly and its ID is not
// reused while that reply may still arrive.
type slot struct {
	c       *call
	expires int64 // tombstones only: UnixNano after which the ID may be reused
}

// udpSock is one connected UDP socket to one resolver.
type udpSock struct {
	addr    string
	conn    *net.UDPConn
	tombTTL time.Duration

	mu      sync.Mutex
	pending map[uint16]slot
	closed  bool

	bogus atomic.Uint64 // datagrams that matched no live call
}

// dialSock connects a UDP socket to raddr with d (whose Control hook may
// refuse the address).
func dialSock(d *net.Dialer, raddr *net.UDPAddr, addr string, tombTTL time.Duration) (*udpSock, error) {
	c, err := d.Dial("udp", raddr.String())
	if err != nil {
		return nil, err
	}
	conn, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dnscheck: a UDP dial returned a %T", c)
	}
	// Many replies may queue between two reads under load; a bigger buffer
	// (the kernel caps it at net.core.rmem_max) keeps bursts from being dropped.
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(1 << 20)
	return &udpSock{addr: addr, conn: conn, tombTTL: tombTTL, pending: make(map[uint16]slot, 256)}, nil
}

// readLoop runs in its own goroutine until the socket is closed.
func (s *udpSock) readLoop() {
	buf := make([]byte, 65535)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				s.failAll(errClosed)
				return
			}
			// On a connected UDP socket a read error is an ICMP error
			// (port unreachable, host unreachable) about a datagram this
			// socket sent to its one peer: every query in flight here went
			// to that peer, so every one of them fails the same way.
			s.failAll(err)
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
				time.Sleep(10 * time.Millisecond) // unexpected: do not spin on it
			}
			continue
		}
		if n < 12 {
			s.bogus.Add(1)
			continue
		}
		id := uint16(buf[0])<<8 | uint16(buf[1])
		s.mu.Lock()
		sl, ok := s.pending[id]
		switch {
		case !ok:
			s.mu.Unlock()
			s.bogus.Add(1)
			continue
		case sl.c == nil: // late reply to a call that gave up
			delete(s.pending, id)
			s.mu.Unlock()
			continue
		case !questionMatches(buf[:n], sl.c.q):
			s.mu.Unlock()
			s.bogus.Add(1)
			continue
		}
		delete(s.pending, id)
		s.mu.Unlock()
		b := make([]byte, n)
		copy(b, buf[:n])
		sl.c.ch <- reply{b: b}
	}
}

// questionMatches reports whether a reply echoes the question q (compared
// case-insensitively, as servers may change the case of names). A reply with
// no question section, as some servers send with an error code, matches by
// ID alone.
func questionMatches(msg, q []byte) bool {
	if msg[4] == 0 && msg[5] == 0 {
		return true
	}
	if len(msg) < 12+len(q) {
		return false
	}
	got := msg[12 : 12+len(q)]
	for i, c := range q {
		g := got[i]
		if g == c {
			continue
		}
		if 'A' <= g && g <= 'Z' {
			g += 'a' - 'A'
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if g != c {
			return false
		}
	}
	return true
}

// failAll hands err to every call in flight on the socket.
func (s *udpSock) failAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sl := range s.pending {
		if sl.c != nil {
			sl.c.ch <- reply{err: err}
		}
		delete(s.pending, id)
	}
}

// register allocates a random free message ID for c, writes it into pkt and
// records the call.
func (s *udpSock) register(c *call, pkt []byte) (uint16, error) {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	for range 128 {
		id := uint16(rand.Uint32())
		sl, taken := s.pending[id]
		if taken && (sl.c != nil || sl.expires > now) {
			continue
		}
		pkt[0], pkt[1] = byte(id>>8), byte(id)
		s.pending[id] = slot{c: c}
		return id, nil
	}
	return 0, errBusy
}

// exchange sends pkt (a packed query whose question section is
// pkt[12:qEnd]) and waits for its reply until deadline or ctx ends. A query
// unanswered after rto is sent again (same ID, same socket: a late reply to
// either copy answers it), then after twice as long, and so on, each resend
// only when allow says the rate limit has room; rto <= 0 never resends. So
// one lost datagram costs about rto, not the whole timeout. It returns the
// raw reply and how many times the query was sent, or errTimeout, a
// *bogusError, a network error, or the context's error.
func (s *udpSock) exchange(ctx context.Context, deadline time.Time, pkt []byte, qEnd int, rto time.Duration, allow func() bool) ([]byte, int, error) {
	c := callPool.Get().(*call)
	c.q = pkt[12:qEnd]
	bogus0 := s.bogus.Load()
	id, err := s.register(c, pkt)
	if err != nil {
		c.q = nil
		callPool.Put(c)
		return nil, 0, err
	}
	if _, err := s.conn.Write(pkt); err != nil {
		if r, ok := s.abandon(id, c, false); ok {
			return r.b, 1, r.err
		}
		return nil, 1, err
	}
	sent := 1

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var resend <-chan time.Time // nil: no resend due
	var resendTimer *time.Timer
	if rto > 0 && rto < time.Until(deadline) {
		resendTimer = time.NewTimer(rto)
		defer resendTimer.Stop()
		resend = resendTimer.C
	}
wait:
	for {
		select {
		case r := <-c.ch:
			c.q = nil
			callPool.Put(c)
			return r.b, sent, r.err
		case <-resend:
			if allow == nil || allow() {
				if _, err := s.conn.Write(pkt); err == nil {
					sent++
				}
			}
			if rto *= 2; rto < time.Until(deadline) {
				resendTimer.Reset(rto)
			} else {
				resend = nil
			}
		case <-timer.C:
			err = errTimeout
			break wait
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		}
	}
	if r, ok := s.abandon(id, c, true); ok {
		return r.b, sent, r.err
	}
	if err == errTimeout {
		if n := s.bogus.Load() - bogus0; n > 0 {
			return nil, sent, &bogusError{addr: s.addr, n: n}
		}
	}
	return nil, sent, err
}

// abandon takes call c (with message ID id) out of the pending map, leaving a
// tombstone when a late reply may still come. When the reader has already
// removed the call, its reply is in (or about to be in) c.ch: abandon returns
// it with ok=true. Either way c goes back to the pool.
func (s *udpSock) abandon(id uint16, c *call, sent bool) (reply, bool) {
	s.mu.Lock()
	sl, ok := s.pending[id]
	if ok && sl.c == c {
		if sent {
			s.pending[id] = slot{expires: time.Now().Add(s.tombTTL).UnixNano()}
		} else {
			delete(s.pending, id)
		}
		s.mu.Unlock()
		c.q = nil
		callPool.Put(c)
		return reply{}, false
	}
	s.mu.Unlock()
	r := <-c.ch
	c.q = nil
	callPool.Put(c)
	return r, true
}

func (s *udpSock) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.conn.Close()
}
