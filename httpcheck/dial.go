package httpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/netguard"
)

// routeKey is the context key of a request's *route.
type routeKey struct{}

// route says where the connections of one fetch go: name is reached at addrs
// (the addresses DNS returned for it), through proxy when it is not nil. It
// also owns the connections dialed for the fetch and closes them when the
// fetch ends (closeConns), so that no connection outlives its Check.
type route struct {
	name  string
	addrs []string
	proxy *domainflow.Proxy
	done  context.Context // the fetch's context: dials end with it
	// deadline is the fetch's time on the network: the dials share it
	// between the name's addresses (done has no deadline of its own — the
	// check's timeout is a timer, paused while it waits for body room).
	deadline time.Time

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// track adopts conn, or reports false when the fetch is already over.
func (r *route) track(conn net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns = append(r.conns, conn)
	return true
}

func (r *route) closeConns() {
	r.mu.Lock()
	conns := r.conns
	r.conns, r.closed = nil, true
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// dialContext is the Transport's dialer. A connection to the checked name
// (on any port: a redirect from http to https on the same host too) goes to
// the addresses DNS returned for it, one after the other while connecting
// fails; a connection to any other host (a redirect elsewhere) resolves that
// host normally. Through a proxy, the proxy is dialed and asked for the
// address, so the Host header and TLS server name (set by the Transport from
// the URL) stay the domain name.
//
// Every address is judged by the Checker's guard before anything is sent
// to it: a direct connection by the dialer's Control hook (on the address
// the socket connects to, names resolved by the dialer included); through a
// proxy, the address the proxy is asked for (a host name is resolved here
// first, so that the proxy connects where we judged) as well as the
// proxy's own. A refused address is skipped for the next one; when every
// one is refused the dial fails with a netguard error.
func (c *Checker) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	rt, _ := ctx.Value(routeKey{}).(*route)
	if rt == nil {
		return nil, errors.New("httpcheck: request without a route")
	}
	// The Transport dials with a context that the request's end does not
	// cancel (it may hand the connection to another request); ours ends with
	// the fetch, deadline included.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(rt.done, cancel)()
	if !rt.deadline.IsZero() {
		var cancelDL context.CancelFunc
		ctx, cancelDL = context.WithDeadline(ctx, rt.deadline)
		defer cancelDL()
	}

	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	targets := []string{address}
	switch {
	case len(rt.addrs) > 0 && strings.EqualFold(strings.TrimSuffix(host, "."), rt.name):
		targets = make([]string, 0, len(rt.addrs))
		for _, a := range rt.addrs {
			targets = append(targets, net.JoinHostPort(a, port))
		}
	case rt.proxy != nil && net.ParseIP(host) == nil:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		targets = make([]string, 0, len(ips))
		for _, ip := range ips {
			targets = append(targets, net.JoinHostPort(ip.Unmap().String(), port))
		}
	}

	var first error
	for i, target := range targets {
		var conn net.Conn
		err := c.checkThroughProxy(rt.proxy, target)
		if err == nil {
			conn, err = c.dialTarget(ctx, rt.proxy, target, len(targets)-i)
		}
		if err == nil {
			if !rt.track(conn) {
				conn.Close()
				return nil, errors.New("fetch is over")
			}
			return conn, nil
		}
		// A refused address is reported only when no other failed.
		if first == nil || (errors.Is(first, netguard.ErrBlocked) && !errors.Is(err, netguard.ErrBlocked)) {
			first = err
		}
		var pe *proxyError
		if ctx.Err() != nil || (errors.As(err, &pe) && pe.fatal) {
			break // out of time, or the proxy itself fails: other addresses won't help
		}
	}
	return nil, first
}

// checkThroughProxy judges the address (an IP and port) a proxy is to be
// asked for; a direct dial is judged by the dialer itself.
func (c *Checker) checkThroughProxy(p *domainflow.Proxy, target string) error {
	if p == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return fmt.Errorf("%q is not an address to ask a proxy for: %w", target, err)
	}
	return c.guard.Check(ap.Addr())
}

// dialTarget dials target (host:port) directly or through p, with a share of
// the time left when other addresses remain to be tried.
func (c *Checker) dialTarget(ctx context.Context, p *domainflow.Proxy, target string, left int) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok && left > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, partialDeadline(time.Now(), dl, left))
		defer cancel()
	}
	if p == nil {
		return c.dialer.DialContext(ctx, "tcp", target)
	}
	if p.Protocol == "socks5" {
		return c.dialSOCKS5(ctx, p, target)
	}
	return c.dialConnect(ctx, p, target)
}

// partialDeadline gives one of left addresses its share of the time until
// deadline, but at least 2 s when there is that much (as net.Dialer does).
func partialDeadline(now, deadline time.Time, left int) time.Time {
	remaining := deadline.Sub(now)
	if remaining <= 0 {
		return deadline
	}
	timeout := remaining / time.Duration(left)
	const saneMinimum = 2 * time.Second
	if timeout < saneMinimum {
		timeout = min(remaining, saneMinimum)
	}
	return now.Add(timeout)
}

// proxyError is a failure of or at a proxy. fatal means the proxy itself
// does not work for us (unreachable, TLS, credentials refused), so trying
// another address through it is pointless.
type proxyError struct {
	proxy string
	fatal bool
	err   error
}

func (e *proxyError) Error() string { return "proxy " + e.proxy + ": " + e.err.Error() }
func (e *proxyError) Unwrap() error { return e.err }

// aLongTimeAgo is a deadline in the past, which unblocks a connection's I/O.
var aLongTimeAgo = time.Unix(1, 0)

// dialConnect opens a tunnel to target through an HTTP or HTTPS proxy with
// CONNECT, authenticating with Basic credentials when the proxy has any.
// CONNECT is used for plain http targets too: it is the only way to have the
// proxy connect to the address DNS returned while the request inside keeps
// the domain name as its Host (an absolute-form request would make the proxy
// resolve the name itself, or lose it).
func (c *Checker) dialConnect(ctx context.Context, p *domainflow.Proxy, target string) (net.Conn, error) {
	paddr := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	raw, err := c.dialer.DialContext(ctx, "tcp", paddr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &proxyError{paddr, true, err}
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	conn, err := c.connectHandshake(ctx, p, paddr, raw, target)
	if !stop() {
		err = ctx.Err() // interrupted by ctx, whatever the handshake said
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	return conn, nil
}

func (c *Checker) connectHandshake(ctx context.Context, p *domainflow.Proxy, paddr string, conn net.Conn, target string) (net.Conn, error) {
	if p.Protocol == "https" {
		// Unlike the sites probed, the proxy is trusted with credentials and
		// every request: its certificate is verified, as the health check
		// (package proxycheck) does.
		tc := tls.Client(conn, &tls.Config{ServerName: p.Host, RootCAs: c.proxyRoots, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &proxyError{paddr, true, fmt.Errorf("tls: %w", err)}
		}
		conn = tc
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target},
		Host:   target,
		Header: http.Header{"User-Agent": {c.userAgent}},
	}
	if p.Username != "" || p.Password != "" {
		creds := base64.StdEncoding.EncodeToString([]byte(p.Username + ":" + p.Password))
		req.Header.Set("Proxy-Authorization", "Basic "+creds)
	}
	if err := req.Write(conn); err != nil {
		return nil, &proxyError{paddr, true, err}
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, &proxyError{paddr, true, fmt.Errorf("reading the CONNECT response: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return nil, &proxyError{paddr, true, fmt.Errorf("credentials refused (%s)", resp.Status)}
	case resp.StatusCode/100 != 2:
		return nil, &proxyError{paddr, false, fmt.Errorf("CONNECT %s: %s", target, resp.Status)}
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn reads what the proxy sent after its CONNECT answer first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// dialSOCKS5 asks a SOCKS5 proxy for target, with username/password
// authentication when the proxy has credentials.
func (c *Checker) dialSOCKS5(ctx context.Context, p *domainflow.Proxy, target string) (net.Conn, error) {
	paddr := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	var auth *xproxy.Auth
	if p.Username != "" || p.Password != "" {
		auth = &xproxy.Auth{User: p.Username, Password: p.Password}
	}
	reached := false // did we connect to the proxy itself?
	forward := dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := c.dialer.DialContext(ctx, network, addr)
		reached = err == nil
		return conn, err
	})
	d, err := xproxy.SOCKS5("tcp", paddr, auth, forward)
	if err != nil {
		return nil, &proxyError{paddr, true, err}
	}
	cd, ok := d.(xproxy.ContextDialer)
	if !ok {
		return nil, &proxyError{paddr, true, errors.New("socks5 dialer without DialContext")}
	}
	conn, err := cd.DialContext(ctx, "tcp", target)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &proxyError{paddr, !reached, err}
	}
	return conn, nil
}

// dialFunc is a function as an x/net/proxy dialer.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

func (f dialFunc) Dial(network, addr string) (net.Conn, error) {
	return f(context.Background(), network, addr)
}
