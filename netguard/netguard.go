// Package netguard decides which addresses DomainFlow may connect to on a
// user's behalf: the pages its campaigns fetch (every redirect hop), the
// DNS resolvers they name, the proxies users add and the health checks of
// those proxies.
//
// A user who controls a name's DNS answer, a redirect or a proxy's address
// could otherwise point the service at the network it runs in: a loopback
// admin page, a cloud metadata endpoint, a database port. So by default a
// Guard refuses every special-purpose range of the IANA registries
// (code.dny.dev/ssrf's lists): loopback, private (RFC 1918, fc00::/7),
// link-local (169.254.0.0/16 with the metadata address, fe80::/10), shared
// 100.64.0.0/10, multicast, unspecified, broadcast and reserved 240.0.0.0/4,
// the documentation and benchmarking ranges, and every IPv6 address outside
// the global unicast range 2000::/3. IPv4-mapped IPv6 addresses
// (::ffff:127.0.0.1) are judged as the IPv4 address they carry, and so are
// NAT64 addresses (64:ff9b::/96): 64:ff9b::7f00:1 is 127.0.0.1.
//
// The operator opens ranges with New's allowed prefixes (a lab network,
// loopback for tests); an allowed prefix opens exactly itself.
//
// The check belongs at dial time, on the address actually connected to: a
// Guard's Control is a net.Dialer Control function, so names resolved by
// the dialer, redirects and DNS rebinding are all judged on the address the
// socket is about to connect to, before any packet leaves.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"code.dny.dev/ssrf"
)

// ErrBlocked is what every refusal matches with errors.Is.
var ErrBlocked = errors.New("blocked")

// BlockedError is a refused destination.
type BlockedError struct {
	Host  string     // the name that resolved to Addr, when one did (CheckHost)
	Addr  netip.Addr // as dialed
	Range string     // the refused range it is in, e.g. "127.0.0.0/8"
}

func (e *BlockedError) Error() string {
	if e.Host != "" {
		return fmt.Sprintf("blocked: %s resolves to %s, which is in %s: this service does not connect there", e.Host, e.Addr, e.Range)
	}
	return fmt.Sprintf("blocked: %s is in %s: this service does not connect there", e.Addr, e.Range)
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// nat64 is the well-known NAT64 prefix (RFC 6052): its last 32 bits are an
// IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Guard judges destinations. The zero value and a nil *Guard refuse every
// default range and open none. A Guard is safe for concurrent use.
type Guard struct {
	allowed []netip.Prefix
}

// New returns a Guard that also lets through the addresses in allowed.
// IPv4-mapped prefixes (::ffff:10.0.0.0/104) are taken as the IPv4 prefix
// they carry.
func New(allowed []netip.Prefix) *Guard {
	g := &Guard{}
	for _, p := range allowed {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.allowed = append(g.allowed, p.Masked())
	}
	return g
}

// Check returns nil when the service may connect to addr, or a
// *BlockedError.
func (g *Guard) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &BlockedError{Addr: addr, Range: "no address"}
	}
	a := addr.WithZone("").Unmap()
	if g.opens(a) {
		return nil
	}
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if g.opens(v4) {
			return nil
		}
		if r := refused(v4); r != "" {
			return &BlockedError{Addr: addr, Range: fmt.Sprintf("%s (the NAT64 form of %s)", nat64, r)}
		}
		return nil
	}
	if r := refused(a); r != "" {
		return &BlockedError{Addr: addr, Range: r}
	}
	return nil
}

func (g *Guard) opens(a netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refused returns the default-refused range a (unmapped, without zone) is
// in, or "".
func refused(a netip.Addr) string {
	if a.Is4() {
		for _, p := range ssrf.IPv4DeniedPrefixes {
			if p.Contains(a) {
				return p.String()
			}
		}
		return ""
	}
	if !ssrf.IPv6GlobalUnicast.Contains(a) {
		switch {
		case a.IsLoopback():
			return "::1/128"
		case a.IsUnspecified():
			return "::/128"
		case a.IsPrivate():
			return "fc00::/7"
		case a.IsLinkLocalUnicast():
			return "fe80::/10"
		case a.IsMulticast():
			return "ff00::/8"
		}
		return "the IPv6 space outside global unicast (2000::/3)"
	}
	for _, p := range ssrf.IPv6DeniedPrefixes {
		if p.Contains(a) {
			return p.String()
		}
	}
	return ""
}

// Control is a net.Dialer Control function: it refuses, before the socket
// connects, an address the Guard does not let through.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Range: fmt.Sprintf("an address that does not parse (%q)", address)}
	}
	return g.Check(ap.Addr())
}

// Dialer returns a copy of d whose connections the Guard checks. Any
// Control or ControlContext d has runs after the Guard's.
func (g *Guard) Dialer(d net.Dialer) *net.Dialer {
	prev, prevCtx := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := g.Control(network, address, c); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return &d
}

// CheckHost checks host, an IP address or a name: a name is resolved and
// refused when any of its addresses is. A name that does not resolve is
// let through (the connection, checked when it is made, will tell).
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return g.Check(a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.Check(a); err != nil {
			var be *BlockedError
			if errors.As(err, &be) {
				be.Host = host
			}
			return err
		}
	}
	return nil
}

// ParseNetworks parses a comma-separated list of CIDRs (a bare address is
// the prefix of that one address); blanks are skipped.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(f); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR such as 10.0.0.0/8 or fd00::/8", f)
		}
	}
	return out, nil
}
