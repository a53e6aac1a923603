package proxycheck_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/netguard"
	"github.com/domainflow/domainflow/proxycheck"
)

// listener accepts connections on 127.0.0.1 and counts them.
func listener(t *testing.T) (port int, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A proxy on a refused address fails blocked without a connection, and
// the answer for an open port is the answer for a closed one: the check
// says nothing of what listens there.
func TestCheckProxyBlocked(t *testing.T) {
	open, accepted := listener(t)
	closed := closedPort(t)
	c := proxycheck.Checker{Timeout: 2 * time.Second}
	var errs []string
	for _, host := range []string{"127.0.0.1", "localhost"} {
		for _, port := range []int{open, closed} {
			_, err := c.CheckProxy(context.Background(), &domainflow.Proxy{Protocol: "http", Host: host, Port: port})
			if !errors.Is(err, netguard.ErrBlocked) || !strings.HasPrefix(err.Error(), "blocked: ") {
				t.Errorf("%s:%d: %v; want a blocked error", host, port, err)
				continue
			}
			if host == "127.0.0.1" {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) == 2 && errs[0] != errs[1] {
		t.Errorf("open port: %q, closed port: %q; want the same answer", errs[0], errs[1])
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the refused proxy address got %d connections; want none", n)
	}

	// Opened, the same proxy is checked for real.
	c.Guard = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if _, err := c.CheckProxy(context.Background(), &domainflow.Proxy{Protocol: "http", Host: "127.0.0.1", Port: open}); err != nil {
		t.Errorf("open port with loopback allowed: %v", err)
	}
	if _, err := c.CheckProxy(context.Background(), &domainflow.Proxy{Protocol: "http", Host: "127.0.0.1", Port: closed}); err == nil ||
		errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("closed port with loopback allowed: %v; want a connection error", err)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the proxy got %d connections; want 1", n)
	}
}
