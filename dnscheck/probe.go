package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/domainflow/domainflow"
)

// This file holds the checks a campaign makes before its DNS phase: are its
// resolvers alive, and which of the zones its names fall in answer every
// name (wildcards, the puredns idea taken to the TLD level).

const (
	// probeLabelLen random characters make a label no zone holds by chance.
	probeLabelLen = 16
	// wildcardProbes random labels are asked under each zone at least, and
	// up to wildcardMaxProbes while their answers keep showing addresses
	// not seen before (a wildcard answering from a pool).
	wildcardProbes    = 3
	wildcardMaxProbes = 10
	// aliveTries is how many tries (each a timeout, with resends) a resolver
	// gets to show it is alive.
	aliveTries = 2
)

// Liveness is whether a resolver answered a probe, and why not.
type Liveness struct {
	Address string
	Alive   bool
	Blocked bool   // the guard refuses its address: it was not asked
	Reason  string // when not alive: what the last try got
}

// randomLabel is a label of probeLabelLen lowercase letters and digits.
func randomLabel() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, probeLabelLen)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

// Alive asks each resolver for a random name under zone (written like a
// TLD, ".com"): any answer, NXDOMAIN included, proves it alive; no reply,
// SERVFAIL, REFUSED or a network error after aliveTries tries does not.
// A resolver the guard refuses is not asked: it is reported Blocked.
// Resolvers are probed at once; the result is in rotation order.
func (r *Resolver) Alive(ctx context.Context, zone string) []Liveness {
	out := make([]Liveness, len(r.upstreams))
	var wg sync.WaitGroup
	for i, u := range r.upstreams {
		wg.Go(func() {
			out[i] = r.alive(ctx, u, randomLabel()+zone)
		})
	}
	wg.Wait()
	return out
}

func (r *Resolver) alive(ctx context.Context, u *upstream, name string) Liveness {
	l := Liveness{Address: u.addr}
	if u.blocked != nil {
		l.Blocked, l.Reason = true, u.blocked.Error()
		return l
	}
	st := checkState{name: dns.Fqdn(name), qtype: dns.TypeA}
	for range aliveTries {
		deadline := time.Now().Add(r.timeout)
		st.sends = 0
		t0 := time.Now()
		m, err := r.query(ctx, u, deadline, st.name, dns.TypeA, &st)
		var o outcome
		switch {
		case err != nil:
			o = errOutcome(err)
		case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
			o = outcome{kind: kFinal, status: domainflow.CheckOK}
			if m.Rcode == dns.RcodeNameError {
				o.reason = domainflow.ReasonNXDomain
			}
		default:
			o = outcome{kind: kRcode, err: fmt.Sprintf("%s from %s", dns.RcodeToString[m.Rcode], u.addr)}
		}
		r.count(u, o, st.sends, time.Since(t0))
		if o.kind == kFinal {
			l.Alive, l.Reason = true, ""
			return l
		}
		l.Reason = o.err
		var sys *os.SyscallError
		switch {
		case o.kind == kTimeout:
			l.Reason = fmt.Sprintf("no reply within %s", r.timeout)
		case errors.As(err, &sys):
			l.Reason = sys.Err.Error() // "connection refused", without the socket's addresses
		}
		if ctx.Err() != nil {
			break
		}
	}
	return l
}

// Wildcards asks random labels under each zone (through the resolvers in
// rotation, as names are) and returns the zones whose random labels
// resolve, with every address and CNAME target they resolved to. Zones are
// probed at once, up to concurrency at a time.
func (r *Resolver) Wildcards(ctx context.Context, zones []string, concurrency int) []domainflow.WildcardZone {
	found := make([]*domainflow.WildcardZone, len(zones))
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	for i, zone := range zones {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			found[i] = r.wildcard(ctx, zone)
		})
	}
	wg.Wait()
	var out []domainflow.WildcardZone
	for _, z := range found {
		if z != nil {
			out = append(out, *z)
		}
	}
	return out
}

func (r *Resolver) wildcard(ctx context.Context, zone string) *domainflow.WildcardZone {
	var z *domainflow.WildcardZone
	for i := 0; i < wildcardMaxProbes && ctx.Err() == nil; i++ {
		res := r.Check(ctx, randomLabel()+zone)
		grew := false
		if res.Status == domainflow.CheckOK && len(res.Addresses)+len(res.CNAMEs) > 0 {
			if z == nil {
				z = &domainflow.WildcardZone{Zone: zone, Addresses: []string{}}
			}
			for _, a := range res.Addresses {
				if !slices.Contains(z.Addresses, a) {
					z.Addresses, grew = append(z.Addresses, a), true
				}
			}
			if n := len(res.CNAMEs); n > 0 && !slices.Contains(z.CNAMEs, res.CNAMEs[n-1]) {
				z.CNAMEs, grew = append(z.CNAMEs, res.CNAMEs[n-1]), true
			}
		}
		if i+1 >= wildcardProbes && (z == nil || !grew) {
			break
		}
	}
	if z != nil {
		slices.Sort(z.Addresses)
		z.CNAMEs = slices.DeleteFunc(z.CNAMEs, func(s string) bool { return strings.TrimSpace(s) == "" })
	}
	return z
}
