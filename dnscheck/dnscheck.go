// Package dnscheck tells whether generated domain names resolve in DNS: the
// DNS validation phase of a DomainFlow campaign.
//
// A Resolver is built once per campaign from its domainflow.DNSConfig and is
// safe for use by many goroutines at once. Each Check asks the configured
// resolvers for the name's A records, and for its AAAA records when there is
// no A answer (so IPv6-only names count as resolving), and returns a
// domainflow.DNSResult.
//
// Queries go over a few long-lived UDP sockets per resolver, multiplexed by
// message ID and question (see mux.go), rather than over a new socket per
// query: against a loopback server with 256 callers that is about twice the
// throughput of miekg/dns's Client.Exchange (BenchmarkCheck against
// BenchmarkExchangePlain). Truncated replies are asked again over TCP.
package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/netguard"
)

const (
	defaultTimeout = 2 * time.Second
	// socketsPerResolver long-lived UDP sockets serve each resolver: enough
	// reader goroutines and kernel receive buffers for thousands of queries
	// in flight, few enough to stay cheap.
	socketsPerResolver = 4
	// maxCNAMEHops bounds the CNAME chain a Check follows.
	maxCNAMEHops = 8
	// udpPayload is the EDNS0 UDP payload size advertised (the DNS flag day
	// 2020 value): large answers fit without TCP, fragments are avoided.
	udpPayload = 1232
)

// resolvConfPath is where system resolvers are read from when the
// configuration names none (a variable so that tests can point elsewhere).
var resolvConfPath = "/etc/resolv.conf"

// Resolver checks names against a fixed list of DNS resolvers.
type Resolver struct {
	upstreams   []*upstream
	timeout     time.Duration
	attempts    int // tries in one Check
	maxAttempts int // tries over every Check of a name (CheckAgain)
	demoted     []string
	onState     func(addr string, demoted bool, reason string)
	limiter     *rate.Limiter // nil: no rate limit
	next        atomic.Uint32 // round-robin position over upstreams
	log         *slog.Logger  // nil: slog.Default()
	guard       *netguard.Guard

	closeOnce sync.Once
	closed    atomic.Bool
	readers   sync.WaitGroup
}

// upstream is one resolver and its sockets.
type upstream struct {
	addr    string // host:port as configured
	socks   []*udpSock
	next    atomic.Uint32
	dialer  *net.Dialer // for TCP retries: guarded as the sockets were
	dialErr error       // the sockets could not be opened: every query fails with it
	// blocked is the guard's refusal of the upstream's address: it is
	// never asked anything, nor picked for a try.
	blocked error
	health  health
}

func (u *upstream) sock() *udpSock {
	return u.socks[int(u.next.Add(1))%len(u.socks)]
}

// Option configures what New returns beyond the campaign's DNSConfig.
type Option func(*Resolver)

// WithLogger has the Resolver log to l (default slog.Default()): only bugs,
// a Check that panicked, with its stack.
func WithLogger(l *slog.Logger) Option {
	return func(r *Resolver) { r.log = l }
}

// WithGuard has the Resolver send queries only where g lets it (default: a
// netguard.Guard with no range opened, which refuses loopback, private and
// the other special-purpose ranges). It applies to the resolvers the
// configuration names; the system's (/etc/resolv.conf), which the operator
// chose, are always used. A refused resolver is never queried: it is
// reported by Blocked and Alive, and a Check that has no other answers
// Reason "blocked".
func WithGuard(g *netguard.Guard) Option {
	return func(r *Resolver) { r.guard = g }
}

// WithDemoted starts the Resolver with these upstreams out of rotation
// (probed now and then), as an earlier step of the campaign left them.
func WithDemoted(addrs []string) Option {
	return func(r *Resolver) { r.demoted = addrs }
}

// WithStateChange has the Resolver call f (from a Check's goroutine; it must
// be quick) when an upstream is demoted, with the last failure as reason,
// or restored.
func WithStateChange(f func(addr string, demoted bool, reason string)) Option {
	return func(r *Resolver) { r.onState = f }
}

// New returns a Resolver for cfg. cfg.Resolvers are host:port strings; when
// there are none the system's resolvers (/etc/resolv.conf) are used, and New
// fails if it lists none. cfg.TimeoutMS is the time allowed for each attempt
// (2000 when zero), cfg.Retries the attempts made after the first, each to
// the next resolver in turn, and cfg.RateLimitQPS, when positive, caps the
// queries per second that the Resolver sends, all resolvers together.
// cfg.Concurrency is the caller's business: a Resolver serves any number of
// goroutines. The Resolver holds sockets until Close.
func New(cfg domainflow.DNSConfig, opts ...Option) (*Resolver, error) {
	if cfg.TimeoutMS < 0 {
		return nil, fmt.Errorf("dnscheck: timeout_ms %d is negative", cfg.TimeoutMS)
	}
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("dnscheck: retries %d is negative", cfg.Retries)
	}
	if cfg.RateLimitQPS < 0 {
		return nil, fmt.Errorf("dnscheck: rate_limit_qps %d is negative", cfg.RateLimitQPS)
	}
	addrs := cfg.Resolvers
	system := len(addrs) == 0
	if system {
		cc, err := dns.ClientConfigFromFile(resolvConfPath)
		if err != nil {
			return nil, fmt.Errorf("dnscheck: no resolvers configured and the system's could not be read: %w", err)
		}
		for _, s := range cc.Servers {
			addrs = append(addrs, net.JoinHostPort(s, cc.Port))
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("dnscheck: no resolvers configured and %s lists no nameserver", resolvConfPath)
		}
	}

	timeout := time.Duration(cfg.TimeoutMS) * time.Millisecond
	if timeout == 0 {
		timeout = defaultTimeout
	}
	r := &Resolver{timeout: timeout, attempts: cfg.Retries + 1, maxAttempts: max(cfg.MaxAttempts, cfg.Retries+1)}
	for _, o := range opts {
		o(r)
	}
	if cfg.RateLimitQPS > 0 {
		// A burst of 10 ms worth of queries (at least one): smooth, yet
		// not a timer wake-up per query at high rates.
		r.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimitQPS), max(1, cfg.RateLimitQPS/100))
	}
	// A call that gave up keeps its message ID out of use for this long, so
	// that its late reply cannot be taken for another query's.
	tombTTL := max(4*timeout, 5*time.Second)

	dialer := r.guard.Dialer(net.Dialer{})
	if system {
		dialer = &net.Dialer{}
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			r.Close()
			return nil, fmt.Errorf("dnscheck: resolver %q is not host:port", a)
		}
		raddr, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("dnscheck: resolver %q: %w", a, err)
		}
		u := &upstream{addr: a, dialer: dialer}
		for range socketsPerResolver {
			s, err := dialSock(dialer, raddr, a, tombTTL)
			if errors.Is(err, netguard.ErrBlocked) {
				u.blocked = blockedError(err)
				break
			}
			if err != nil {
				// An unreachable resolver (say an IPv6 one on a host
				// without IPv6) fails its attempts, not the Resolver.
				u.dialErr = err
				break
			}
			u.socks = append(u.socks, s)
			r.readers.Add(1)
			go func() {
				defer r.readers.Done()
				s.readLoop()
			}()
		}
		if slices.Contains(r.demoted, a) {
			u.health.demote(time.Now())
		}
		r.upstreams = append(r.upstreams, u)
	}
	return r, nil
}

// TakeStats returns what each upstream answered since the last call, with
// its state now.
func (r *Resolver) TakeStats() []domainflow.ResolverStats {
	out := make([]domainflow.ResolverStats, len(r.upstreams))
	for i, u := range r.upstreams {
		out[i] = u.health.take(u.addr)
	}
	return out
}

// Demote takes the upstream at addr out of rotation (it is probed now and
// then) and reports whether it was in rotation.
func (r *Resolver) Demote(addr string) bool {
	for _, u := range r.upstreams {
		if u.addr == addr {
			u.health.mu.Lock()
			defer u.health.mu.Unlock()
			if u.health.demoted {
				return false
			}
			u.health.demote(time.Now())
			return true
		}
	}
	return false
}

// pick returns the upstream for the try after the rotation's position i:
// the next one in rotation, a demoted one when its probe is due, and, when
// every one is demoted, the next one anyway. A blocked upstream is never
// picked: when every one is, pick returns nil.
func (r *Resolver) pick(i int) (*upstream, int) {
	now := time.Now()
	n := len(r.upstreams)
	for k := range n {
		if u := r.upstreams[(i+k)%n]; u.blocked == nil && u.health.usable(now) {
			return u, (i + k) % n
		}
	}
	for k := range n {
		if u := r.upstreams[(i+k)%n]; u.blocked == nil {
			return u, (i + k) % n
		}
	}
	return nil, i % n
}

// Blocked returns the upstreams the guard refused, with why, in rotation
// order.
func (r *Resolver) Blocked() []Liveness {
	var out []Liveness
	for _, u := range r.upstreams {
		if u.blocked != nil {
			out = append(out, Liveness{Address: u.addr, Blocked: true, Reason: u.blocked.Error()})
		}
	}
	return out
}

// blockedError is the guard's own words from a dial error.
func blockedError(err error) error {
	var be *netguard.BlockedError
	if errors.As(err, &be) {
		return be
	}
	return err
}

// indexOf is the rotation position of the upstream at addr, or -1.
func (r *Resolver) indexOf(addr string) int {
	for i, u := range r.upstreams {
		if u.addr == addr {
			return i
		}
	}
	return -1
}

// Close releases the Resolver's sockets and waits for its goroutines to
// end. Checks in flight, and Checks made after Close, fail with Reason
// "other". Close may be called more than once.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		for _, u := range r.upstreams {
			for _, s := range u.socks {
				s.close()
			}
		}
		r.readers.Wait()
	})
	return nil
}

func (r *Resolver) logger() *slog.Logger {
	if r.log == nil {
		return slog.Default()
	}
	return r.log
}

// Resolvers returns the host:port of each resolver, in rotation order.
func (r *Resolver) Resolvers() []string {
	out := make([]string, len(r.upstreams))
	for i, u := range r.upstreams {
		out[i] = u.addr
	}
	return out
}

// kind classifies the outcome of one attempt, best last: when every
// attempt fails the result reports the best failure seen.
type kind int

const (
	kTimeout kind = iota // no reply
	kNetwork             // connection refused, unreachable, malformed replies
	kRcode               // an answer that may be better elsewhere: SERVFAIL, REFUSED, other codes
	kFinal               // a definitive answer: addresses, NXDOMAIN, no data
)

// outcome is what one attempt (one resolver, one deadline) found.
type outcome struct {
	kind     kind
	status   string
	reason   string
	err      string
	addrs    []string
	cnames   []string // the CNAME chain followed
	resolver string   // the resolver that answered, when one did
	latency  float64  // the attempt's time in milliseconds
}

// try is what an outcome counts as in its upstream's figures.
func (o outcome) try() tryKind {
	switch {
	case o.kind == kTimeout:
		return tryTimeout
	case o.kind != kFinal:
		return tryError
	case o.reason == domainflow.ReasonNXDomain:
		return tryNXDomain
	}
	return tryAnswer
}

// Check resolves name and reports what it found. It asks for A records, and
// for AAAA records when the A answer has no address; CNAME chains are
// followed (inside the answer and, when a chain leaves it, by asking for the
// target, up to 8 links). It never takes longer than (Retries+1) × TimeoutMS
// plus any wait for the rate limit, and returns early when ctx ends (Status
// "timeout" when ctx's deadline passed, Status "error" with Reason "other"
// when ctx was cancelled).
//
// Status "ok" comes with Addresses (IPv4 then IPv6, without duplicates),
// Resolver (the host:port that answered) and LatencyMS (that attempt's
// time, not counting any wait for the rate limit). Failures: NXDOMAIN →
// "error"/"nxdomain", SERVFAIL → "error"/"servfail", REFUSED →
// "error"/"refused", NOERROR without addresses → "error"/"no_answer", no
// reply to any attempt → "timeout"/"timeout", connection refused,
// unreachable, malformed or mismatched replies → "error"/"network" (with
// Error), anything else → "error"/"other". SERVFAIL, REFUSED, network errors
// and timeouts are retried with the next resolver; when every attempt
// fails the result is the most informative failure (an answer from a
// server, then a network error, then a timeout), with that attempt's
// Resolver and LatencyMS. Resolvers the guard refuses are never asked
// (see WithGuard); when every one is, the result is "error"/"blocked" at
// once, naming the first. Attempts counts the attempts made; one attempt is
// the A query and any AAAA and CNAME-target queries sent to one resolver
// within one timeout.
func (r *Resolver) Check(ctx context.Context, name string) domainflow.DNSResult {
	return r.CheckAgain(ctx, name, nil)
}

// CheckAgain is Check for a name whose earlier tries, as prev says (nil:
// none), failed transiently: it starts on the resolver after the one prev
// tried last, makes at most the tries left of the name's max_attempts, and
// its result's Attempts counts every try the name had.
//
// A found name (addresses, or no data) is also asked for its NS and MX
// records, within one more timeout; a name with no address but name
// servers or mail exchangers is found too (Status "ok" without Addresses).
func (r *Resolver) CheckAgain(ctx context.Context, name string, prev *domainflow.DNSResult) (res domainflow.DNSResult) {
	var attempts int
	if prev != nil {
		attempts = prev.Attempts
	}
	defer func() {
		// A bug here must cost one result, not the campaign's process; it
		// is logged with its stack so that it can be fixed.
		if p := recover(); p != nil {
			r.logger().Error("dnscheck: check panicked", "domain", name, "panic", p, "stack", string(debug.Stack()))
			res = domainflow.DNSResult{Status: domainflow.CheckError, Reason: domainflow.ReasonOther,
				Attempts: attempts, Error: fmt.Sprintf("dnscheck: internal error: %v", p), CheckedAt: time.Now().UTC()}
		}
	}()
	finish := func(o outcome) domainflow.DNSResult {
		out := domainflow.DNSResult{
			Status: o.status, Reason: o.reason, Error: o.err,
			Resolver: o.resolver, LatencyMS: o.latency, Attempts: attempts,
			CheckedAt: time.Now().UTC(),
		}
		if o.status == domainflow.CheckOK {
			out.Addresses, out.CNAMEs = o.addrs, o.cnames
		}
		return out
	}

	fqdn := dns.Fqdn(strings.TrimSpace(name))
	if _, ok := dns.IsDomainName(fqdn); !ok || fqdn == "." || strings.ContainsAny(fqdn, " \\") {
		return finish(outcome{status: domainflow.CheckError, reason: domainflow.ReasonOther, err: fmt.Sprintf("%q is not a valid domain name", name)})
	}
	if r.closed.Load() {
		return finish(outcome{status: domainflow.CheckError, reason: domainflow.ReasonOther, err: errClosed.Error()})
	}

	tries := r.attempts
	next := int(r.next.Add(1) - 1)
	if prev != nil {
		tries = min(tries, r.maxAttempts-attempts)
		if i := r.indexOf(prev.Resolver); i >= 0 {
			next = i + 1
		}
	}
	st := checkState{name: fqdn, qtype: dns.TypeA}
	var best outcome
	for try := range max(tries, 1) {
		u, pos := r.pick(next)
		if u == nil {
			// Every resolver is refused: nothing can be asked, now or later.
			b := r.upstreams[pos]
			return finish(outcome{kind: kFinal, status: domainflow.CheckError, reason: domainflow.ReasonBlocked,
				err: b.blocked.Error(), resolver: b.addr})
		}
		next = pos + 1
		if err := r.wait(ctx); err != nil {
			return finish(errOutcome(err))
		}
		st.waited = true
		attempts++
		t0 := time.Now()
		o := r.attempt(ctx, u, &st)
		took := time.Since(t0)
		o.latency = float64(took.Nanoseconds()) / 1e6
		o.resolver = u.addr
		r.count(u, o, st.sends, took)
		if o.kind == kFinal || ctxOver(ctx) {
			res = finish(o)
			if o.kind == kFinal && (o.status == domainflow.CheckOK || o.reason == domainflow.ReasonNoAnswer) {
				r.extras(ctx, u, &st, &res)
			}
			return res
		}
		if try == 0 || o.kind >= best.kind {
			best = o
		}
	}
	return finish(best)
}

// count adds a try to its upstream's figures and tells of a state change.
func (r *Resolver) count(u *upstream, o outcome, sends int, took time.Duration) {
	reason := o.err
	if reason == "" {
		reason = o.reason
	}
	if ch := u.health.record(o.try(), sends, took, reason, time.Now()); ch != nil && r.onState != nil {
		r.onState(u.addr, ch.demoted, ch.reason)
	}
}

// extras asks u for the NS and MX records of a found name, both at once
// within one timeout, and makes a name with no address but either of them
// found. Failing to get them changes nothing else.
func (r *Resolver) extras(ctx context.Context, u *upstream, st *checkState, res *domainflow.DNSResult) {
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ask := func(qtype uint16, st *checkState) []dns.RR {
		m, err := r.query(ctx, u, deadline, st.name, qtype, st)
		if err != nil || m.Rcode != dns.RcodeSuccess {
			return nil
		}
		var out []dns.RR
		for _, rr := range m.Answer {
			if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, st.name) {
				out = append(out, rr)
			}
		}
		return out
	}
	mx := make(chan []dns.RR, 1)
	go func() { mx <- ask(dns.TypeMX, &checkState{name: st.name}) }()
	for _, rr := range ask(dns.TypeNS, st) {
		res.NS = append(res.NS, rr.(*dns.NS).Ns)
	}
	for _, rr := range <-mx {
		m := rr.(*dns.MX)
		res.MX = append(res.MX, domainflow.MXRecord{Preference: m.Preference, Host: m.Mx})
	}
	if res.Status != domainflow.CheckOK && (len(res.NS) > 0 || len(res.MX) > 0) {
		res.Status, res.Reason, res.Error = domainflow.CheckOK, "", ""
	}
}

// ctxOver reports whether ctx has ended or its deadline has passed (a
// timer may see the deadline pass before ctx does).
func ctxOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// allow takes a token from the rate limiter for a resend if one is free
// now, without waiting.
func (r *Resolver) allow() bool {
	return r.limiter == nil || r.limiter.Allow()
}

// wait takes a token from the rate limiter, if any.
func (r *Resolver) wait(ctx context.Context) error {
	if r.limiter == nil {
		return ctx.Err()
	}
	if err := r.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return context.DeadlineExceeded // the wait would outlast ctx
	}
	return nil
}

// checkState carries what earlier attempts of one Check learned: once an A
// query has answered without addresses, later attempts only ask for AAAA.
type checkState struct {
	name   string // the name asked
	qtype  uint16 // dns.TypeA, then dns.TypeAAAA
	waited bool   // a rate limit token was taken for the next query
	pkt    []byte // scratch buffer for packed queries
	sends  int    // queries sent in the current try, resends included
}

// attempt runs one attempt against u with a deadline of one timeout.
func (r *Resolver) attempt(ctx context.Context, u *upstream, st *checkState) outcome {
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	st.sends = 0
	for {
		o, done := r.lookup(ctx, u, deadline, st)
		if done || st.qtype == dns.TypeAAAA {
			return o
		}
		// NOERROR without A records: ask for AAAA, same resolver, same
		// deadline; "no_answer" only if that finds nothing either.
		st.qtype = dns.TypeAAAA
	}
}

// lookup asks u for st.qtype records of st.name, following CNAMEs. done is
// false only for NOERROR with no address, when AAAA should be tried next.
func (r *Resolver) lookup(ctx context.Context, u *upstream, deadline time.Time, st *checkState) (o outcome, done bool) {
	qname := st.name
	var cnames []string
	for hop := 0; ; hop++ {
		m, err := r.query(ctx, u, deadline, qname, st.qtype, st)
		if err != nil {
			return errOutcome(err), true
		}
		switch m.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return outcome{kind: kFinal, status: domainflow.CheckError, reason: domainflow.ReasonNXDomain}, true
		case dns.RcodeServerFailure:
			return outcome{kind: kRcode, status: domainflow.CheckError, reason: domainflow.ReasonServFail, err: "SERVFAIL from " + u.addr}, true
		case dns.RcodeRefused:
			return outcome{kind: kRcode, status: domainflow.CheckError, reason: domainflow.ReasonRefused, err: "REFUSED by " + u.addr}, true
		default:
			return outcome{kind: kRcode, status: domainflow.CheckError, reason: domainflow.ReasonOther,
				err: fmt.Sprintf("%s from %s", dns.RcodeToString[m.Rcode], u.addr)}, true
		}
		addrs, chain, target, loop := addresses(m, qname)
		cnames = append(cnames, chain...)
		if len(addrs) > 0 {
			return outcome{kind: kFinal, status: domainflow.CheckOK, addrs: addrs, cnames: cnames}, true
		}
		if loop {
			return outcome{kind: kFinal, status: domainflow.CheckError, reason: domainflow.ReasonNoAnswer,
				err: "CNAME chain loops back on itself"}, true
		}
		if target == "" || hop+1 >= maxCNAMEHops {
			if target != "" {
				return outcome{kind: kFinal, status: domainflow.CheckError, reason: domainflow.ReasonNoAnswer,
					err: fmt.Sprintf("CNAME chain longer than %d links", maxCNAMEHops)}, true
			}
			if st.qtype == dns.TypeAAAA {
				return outcome{kind: kFinal, status: domainflow.CheckError, reason: domainflow.ReasonNoAnswer}, true
			}
			return outcome{}, false
		}
		// The chain leaves the answer: ask for its end.
		qname = target
	}
}

// addresses follows the CNAME chain from qname inside m's answer and returns
// the A and AAAA addresses of the names on it (IPv4 first, without
// duplicates). When the chain ends at a name the answer has no address for,
// target is that name; loop reports a chain that comes back on itself.
func addresses(m *dns.Msg, qname string) (addrs, cnames []string, target string, loop bool) {
	chain := []string{qname}
	cur := qname
	for range maxCNAMEHops {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = c.Target
				break
			}
		}
		if next == "" {
			break
		}
		if slices.ContainsFunc(chain, func(n string) bool { return strings.EqualFold(n, next) }) {
			loop = true
			break
		}
		chain = append(chain, next)
		cur = next
	}
	onChain := func(n string) bool {
		return slices.ContainsFunc(chain, func(c string) bool { return strings.EqualFold(c, n) })
	}
	var v6 []string
	for _, rr := range m.Answer {
		switch a := rr.(type) {
		case *dns.A:
			if onChain(a.Hdr.Name) {
				if s := a.A.String(); !slices.Contains(addrs, s) {
					addrs = append(addrs, s)
				}
			}
		case *dns.AAAA:
			if onChain(a.Hdr.Name) {
				if s := a.AAAA.String(); !slices.Contains(v6, s) {
					v6 = append(v6, s)
				}
			}
		}
	}
	addrs = append(addrs, v6...)
	if len(addrs) == 0 && !loop && !strings.EqualFold(cur, qname) {
		target = cur
	}
	return addrs, chain[1:], target, loop
}

// query sends one question to u over UDP (and again over TCP when the reply
// is truncated) and returns the reply.
func (r *Resolver) query(ctx context.Context, u *upstream, deadline time.Time, qname string, qtype uint16, st *checkState) (*dns.Msg, error) {
	if u.blocked != nil {
		return nil, u.blocked
	}
	if u.dialErr != nil {
		return nil, u.dialErr
	}
	if r.closed.Load() {
		return nil, errClosed
	}
	if st.waited {
		st.waited = false
	} else if err := r.wait(ctx); err != nil {
		return nil, err
	}
	if !time.Now().Before(deadline) {
		return nil, errTimeout
	}
	pkt, qEnd, err := packQuery(st.pkt[:0], qname, qtype)
	if err != nil {
		return nil, fmt.Errorf("packing the query: %w", err)
	}
	st.pkt = pkt

	b, sends, err := u.sock().exchange(ctx, deadline, pkt, qEnd, u.health.rto(r.timeout), r.allow)
	st.sends += sends
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return nil, fmt.Errorf("malformed reply from %s: %w", u.addr, err)
	}
	if !m.Response {
		return nil, fmt.Errorf("malformed reply from %s: not a response", u.addr)
	}
	if !m.Truncated {
		return m, nil
	}
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.SetEdns0(udpPayload, false)
	return r.queryTCP(ctx, u, deadline, q)
}

// packQuery appends to buf a query for qname (fully qualified) and qtype
// with recursion desired and an EDNS0 record, and returns it and the end
// of its question section. The message ID is left zero.
func packQuery(buf []byte, qname string, qtype uint16) ([]byte, int, error) {
	buf = append(buf,
		0, 0, // ID
		0x01, 0x00, // flags: RD
		0, 1, // QDCOUNT
		0, 0, // ANCOUNT
		0, 0, // NSCOUNT
		0, 1, // ARCOUNT: the OPT record
	)
	buf = slices.Grow(buf, 256+4+11)[:12+256]
	off, err := dns.PackDomainName(qname, buf, 12, nil, false)
	if err != nil {
		return nil, 0, err
	}
	buf = append(buf[:off], byte(qtype>>8), byte(qtype), 0, byte(dns.ClassINET))
	qEnd := len(buf)
	buf = append(buf,
		0,     // root name
		0, 41, // TYPE OPT
		byte(udpPayload>>8), byte(udpPayload&0xff), // CLASS: UDP payload size
		0, 0, 0, 0, // TTL: extended RCODE, version, flags
		0, 0, // RDLENGTH
	)
	return buf, qEnd, nil
}

// queryTCP asks q again over TCP, within the same deadline.
func (r *Resolver) queryTCP(ctx context.Context, u *upstream, deadline time.Time, q *dns.Msg) (*dns.Msg, error) {
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	q.Id = dns.Id()
	d := *u.dialer
	d.Timeout = time.Until(deadline)
	c := dns.Client{Net: "tcp", Timeout: d.Timeout, Dialer: &d}
	m, _, err := c.ExchangeContext(tctx, q, u.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if !time.Now().Before(deadline) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, errTimeout
		}
		return nil, fmt.Errorf("tcp retry of a truncated reply: %w", err)
	}
	return m, nil
}

// errOutcome classifies a failed query.
func errOutcome(err error) outcome {
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		return outcome{kind: kNetwork, status: domainflow.CheckError, reason: domainflow.ReasonBlocked, err: blockedError(err).Error()}
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		return outcome{kind: kTimeout, status: domainflow.CheckTimeout, reason: domainflow.ReasonTimeout, err: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, errClosed):
		return outcome{kind: kNetwork, status: domainflow.CheckError, reason: domainflow.ReasonOther, err: err.Error()}
	}
	return outcome{kind: kNetwork, status: domainflow.CheckError, reason: domainflow.ReasonNetwork, err: err.Error()}
}
