package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/domainflow/domainflow/netguard"
)

func TestDefaultRefusals(t *testing.T) {
	refused := []struct{ addr, rng string }{
		{"127.0.0.1", "127.0.0.0/8"},
		{"127.255.255.254", "127.0.0.0/8"},
		{"10.1.2.3", "10.0.0.0/8"},
		{"172.16.0.1", "172.16.0.0/12"},
		{"172.31.255.255", "172.16.0.0/12"},
		{"192.168.1.1", "192.168.0.0/16"},
		{"169.254.169.254", "169.254.0.0/16"},
		{"100.64.0.1", "100.64.0.0/10"},
		{"100.127.255.255", "100.64.0.0/10"},
		{"0.0.0.0", "0.0.0.0/8"},
		{"0.1.2.3", "0.0.0.0/8"},
		{"224.0.0.251", "224.0.0.0/4"},
		{"239.255.255.250", "224.0.0.0/4"},
		{"255.255.255.255", "240.0.0.0/4"},
		{"240.0.0.1", "240.0.0.0/4"},
		{"192.0.2.10", "192.0.2.0/24"},
		{"198.51.100.7", "198.51.100.0/24"},
		{"203.0.113.99", "203.0.113.0/24"},
		{"198.18.0.1", "198.18.0.0/15"},
		{"198.19.255.255", "198.18.0.0/15"},
		{"192.0.0.8", "192.0.0.0/24"},
		{"::1", "::1/128"},
		{"::", "::/128"},
		{"fc00::1", "fc00::/7"},
		{"fd12:3456::1", "fc00::/7"},
		{"fe80::1", "fe80::/10"},
		{"fe80::1%eth0", "fe80::/10"},
		{"ff02::1", "ff00::/8"},
		{"2001:db8::1", "2001:db8::/32"},
		{"2002:7f00:1::1", "2002::/16"},   // 6to4 of 127.0.0.1
		{"2001:0:7f00:1::1", "2001::/23"}, // Teredo
		// IPv4 in IPv6 clothing.
		{"::ffff:127.0.0.1", "127.0.0.0/8"},
		{"::ffff:10.0.0.1", "10.0.0.0/8"},
		{"::ffff:169.254.169.254", "169.254.0.0/16"},
		{"::ffff:0.0.0.0", "0.0.0.0/8"},
		{"::127.0.0.1", "outside global unicast"},        // IPv4-compatible (deprecated)
		{"::ffff:0:127.0.0.1", "outside global unicast"}, // IPv4-translated (RFC 2765)
		{"64:ff9b::7f00:1", "NAT64 form of 127.0.0.0/8"},
		{"64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.0.0/16"},
		{"64:ff9b::c0a8:101", "NAT64 form of 192.168.0.0/16"},
		{"64:ff9b:1::a00:1", "outside global unicast"}, // local-use NAT64 (RFC 8215)
	}
	g := netguard.New(nil)
	for _, tt := range refused {
		a := netip.MustParseAddr(tt.addr)
		for _, guard := range []*netguard.Guard{g, nil, {}} {
			err := guard.Check(a)
			if !errors.Is(err, netguard.ErrBlocked) {
				t.Errorf("Check(%s) = %v; want it blocked", tt.addr, err)
				continue
			}
			if !strings.HasPrefix(err.Error(), "blocked: ") || !strings.Contains(err.Error(), tt.rng) {
				t.Errorf("Check(%s) = %q; want it to start with \"blocked: \" and name %s", tt.addr, err, tt.rng)
			}
		}
	}

	public := []string{"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
		"169.253.1.1", "198.17.255.255", "198.20.0.1", "223.255.255.255", "11.0.0.1", "126.255.255.255", "128.0.0.1",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1",
		"::ffff:8.8.8.8", "64:ff9b::808:808"} // mapped and NAT64 forms of public addresses
	for _, s := range public {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v; want it allowed", s, err)
		}
	}
}

func TestAllowedOpensExactlyItself(t *testing.T) {
	nets, err := netguard.ParseNetworks("127.0.0.2/32, 10.20.0.0/16,fd00:1::/64")
	if err != nil {
		t.Fatal(err)
	}
	g := netguard.New(nets)
	for _, tt := range []struct {
		addr string
		open bool
	}{
		{"127.0.0.2", true},
		{"::ffff:127.0.0.2", true},
		{"64:ff9b::7f00:2", true},
		{"127.0.0.1", false},
		{"127.0.0.3", false},
		{"::ffff:127.0.0.1", false},
		{"10.20.0.1", true},
		{"10.20.255.255", true},
		{"10.21.0.1", false},
		{"10.19.255.255", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"8.8.8.8", true}, // public stays open
	} {
		err := g.Check(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.open {
			t.Errorf("with %v, Check(%s) = %v; want open %v", nets, tt.addr, err, tt.open)
		}
	}

	// Loopback as the tests open it, given in the IPv4-mapped form too.
	for _, p := range []string{"127.0.0.0/8", "::ffff:127.0.0.0/104"} {
		g := netguard.New([]netip.Prefix{netip.MustParsePrefix(p)})
		for _, a := range []string{"127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1"} {
			if err := g.Check(netip.MustParseAddr(a)); err != nil {
				t.Errorf("with %s open, Check(%s) = %v", p, a, err)
			}
		}
		if err := g.Check(netip.MustParseAddr("::1")); err == nil {
			t.Errorf("with %s open, ::1 is let through", p)
		}
	}
}

func TestParseNetworks(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"", "[]"},
		{" , ", "[]"},
		{"10.0.0.0/8,127.0.0.0/8", "[10.0.0.0/8 127.0.0.0/8]"},
		{"10.1.2.3/8", "[10.0.0.0/8]"},
		{"192.168.1.10", "[192.168.1.10/32]"},
		{"fd00::/8", "[fd00::/8]"},
	} {
		got, err := netguard.ParseNetworks(tt.in)
		if err != nil {
			t.Errorf("ParseNetworks(%q): %v", tt.in, err)
			continue
		}
		if s := fmtPrefixes(got); s != tt.want {
			t.Errorf("ParseNetworks(%q) = %s; want %s", tt.in, s, tt.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0", "fe80::1%eth0", "10.0.0.0/8;127.0.0.0/8"} {
		if _, err := netguard.ParseNetworks(bad); err == nil {
			t.Errorf("ParseNetworks(%q) took it", bad)
		}
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// A refused dial never reaches the listener: the check runs before the
// socket connects.
func TestControlRefusesBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	d := netguard.New(nil).Dialer(net.Dialer{})
	for _, addr := range []string{ln.Addr().String(), "localhost:" + portOf(ln)} {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s went through the default guard", addr)
		}
		if !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("dial %s: %v; want a blocked error", addr, err)
		}
	}
	pc, err := d.DialContext(ctx, "udp", "127.0.0.1:53")
	if err == nil {
		pc.Close()
		t.Errorf("a UDP socket to 127.0.0.1:53 went through the default guard")
	} else if !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("udp dial: %v; want a blocked error", err)
	}

	open := netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).Dialer(net.Dialer{})
	c, err := open.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with loopback open: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the listener accepted %d connections; want only the one loopback was opened for", n)
	}
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func TestCheckHost(t *testing.T) {
	ctx := context.Background()
	g := netguard.New(nil)
	for _, h := range []string{"127.0.0.1", "[::1]", "::ffff:127.0.0.1", "localhost"} {
		err := g.CheckHost(ctx, h)
		if !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("CheckHost(%q) = %v; want blocked", h, err)
		}
	}
	if err := g.CheckHost(ctx, "localhost"); err != nil && !strings.Contains(err.Error(), "localhost resolves to") {
		t.Errorf("CheckHost(localhost) = %q; want it to say what the name resolved to", err)
	}
	if err := g.CheckHost(ctx, "1.1.1.1"); err != nil {
		t.Errorf("CheckHost(1.1.1.1) = %v", err)
	}
	if err := g.CheckHost(ctx, "no-such-name.invalid"); err != nil {
		t.Errorf("CheckHost of a name that does not resolve = %v; want it let through to the dial-time check", err)
	}
}
