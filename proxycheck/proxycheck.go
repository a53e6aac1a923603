// Package proxycheck tells whether a proxy answers: it connects, and speaks
// the first words of the proxy's protocol (a TLS handshake for https, the
// SOCKS5 greeting and, with credentials, its login) so that a port that
// merely accepts connections is not taken for a working proxy.
//
// A proxy's address is a user's to choose, so it is judged by the outbound
// guard (package netguard) before the socket connects: a proxy in a refused
// range fails with the guard's "blocked: …" error without a packet sent, so
// the answer is the same whether anything listens there or not.
package proxycheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/netguard"
)

// Checker checks proxies with a timeout per check.
type Checker struct {
	Timeout time.Duration
	// Guard judges the proxy's address (nil: a netguard.Guard with no
	// range opened, which refuses loopback, private and the other
	// special-purpose ranges).
	Guard *netguard.Guard
}

// CheckProxy returns the time the check took, in milliseconds, or why the
// proxy does not work.
func (c Checker) CheckProxy(ctx context.Context, p *domainflow.Proxy) (float64, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	d := c.Guard.Dialer(net.Dialer{})
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)))
	if err != nil {
		var be *netguard.BlockedError
		if errors.As(err, &be) {
			return 0, be
		}
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	switch p.Protocol {
	case "https":
		tc := tls.Client(conn, &tls.Config{ServerName: p.Host})
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, fmt.Errorf("tls handshake: %w", err)
		}
	case "socks5":
		if err := socks5Greeting(conn, p.Username, p.Password); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Microseconds()) / 1000, nil
}

// socks5Greeting offers "no authentication" (and username/password when
// credentials are stored) and checks the answer (RFC 1928, RFC 1929).
func socks5Greeting(conn net.Conn, user, pass string) error {
	methods := []byte{0x00}
	if user != "" || pass != "" {
		methods = []byte{0x02}
	}
	if _, err := conn.Write(append([]byte{0x05, byte(len(methods))}, methods...)); err != nil {
		return fmt.Errorf("socks5 greeting: %w", err)
	}
	reply := make([]byte, 2)
	if _, err := io.ReadFull(conn, reply); err != nil {
		return fmt.Errorf("socks5 greeting: %w", err)
	}
	if reply[0] != 0x05 {
		return errors.New("socks5 greeting: not a SOCKS5 server")
	}
	switch reply[1] {
	case 0x00:
		return nil
	case 0x02:
		if len(user) > 255 || len(pass) > 255 {
			return errors.New("socks5 login: credentials longer than 255 bytes")
		}
		msg := append([]byte{0x01, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		if _, err := conn.Write(msg); err != nil {
			return fmt.Errorf("socks5 login: %w", err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil {
			return fmt.Errorf("socks5 login: %w", err)
		}
		if reply[1] != 0x00 {
			return errors.New("socks5 login: credentials refused")
		}
		return nil
	default:
		return errors.New("socks5 greeting: no acceptable authentication method")
	}
}
