// Package httpcheck is the HTTP validation phase of a campaign: it fetches the
// home page of a domain that passed DNS, at the addresses DNS returned, and
// reports what it found (status code, title, keywords, size, final URL,
// latency) as a domainflow.HTTPResult; domainflow.ScoreParts turns such a result
// into a lead score.
//
// A Checker is safe for use by many goroutines; the campaign engine calls
// Check from up to HTTPConfig.Concurrency of them.
//
// What checks hold in memory is bounded per process, not per check: a page
// is read (gunzipped, when the server sent it so) up to max_body_bytes and
// no further, into the room it reserved in a Budget shared by every Checker
// of the process, and its title and keywords are found by streaming over
// it, without a decoded or lowercased copy.
package httpcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/netguard"
)

// Defaults used for the zero value of a field of domainflow.HTTPConfig that
// has no meaningful zero (they match domainflow.DefaultHTTPConfig).
const (
	defaultTimeout      = 5 * time.Second
	defaultMaxBodyBytes = 1 << 20
	defaultUserAgent    = "DomainFlow/1.0"

	// maxTitleRunes is the longest title kept, in characters.
	maxTitleRunes = 300
)

// errTooManyRedirects is what a redirect loop or a chain longer than
// MaxRedirects reports.
var errTooManyRedirects = errors.New("too many redirects")

// Checker fetches domains with one campaign's HTTP configuration. Create it
// with New and release it with Close.
type Checker struct {
	scheme       string
	ports        []int
	timeout      time.Duration
	follow       bool
	maxRedirects int
	maxBody      int64
	userAgent    string
	keywords     []keyword

	proxies []*domainflow.Proxy // usable ones only, in the order given
	next    atomic.Uint64       // round-robin position in proxies

	guard     *netguard.Guard // judges every address connected to; nil: the defaults
	dialer    *net.Dialer
	transport *http.Transport
	client    *http.Client
	closed    atomic.Bool

	// proxyRoots verifies the certificates of https proxies; nil means the
	// system roots. Tests set it.
	proxyRoots *x509.CertPool

	budget *Budget // where checks reserve the memory of their pages

	log *slog.Logger // nil: slog.Default()
}

// Option configures what New returns beyond the campaign's HTTPConfig.
type Option func(*Checker)

// WithLogger has the Checker log to l (default slog.Default()): only bugs,
// a Check that panicked, with its stack.
func WithLogger(l *slog.Logger) Option {
	return func(c *Checker) { c.log = l }
}

// WithGuard has the Checker connect only where g lets it (default: a
// netguard.Guard with no range opened, which refuses loopback, private and
// the other special-purpose ranges). A fetch refused there, at the page or
// at a redirect, is an error result with Reason "blocked".
func WithGuard(g *netguard.Guard) Option {
	return func(c *Checker) { c.guard = g }
}

func (c *Checker) logger() *slog.Logger {
	if c.log == nil {
		return slog.Default()
	}
	return c.log
}

// New prepares a Checker for cfg. proxies are the campaign's proxies: the
// enabled ones whose health is not "unhealthy" (and, when cfg.ProxyIDs is not
// empty, that it lists) are used in turn, one per Check; when none is usable
// the Checker connects directly.
//
// Zero values of Scheme, Ports, TimeoutMS, MaxBodyBytes, UserAgent and
// KeywordMode mean their defaults (http, [80] or [443] for https, 5 s, 1 MiB,
// "DomainFlow/1.0", plain). New fails on an invalid configuration: an unknown
// scheme or keyword mode, a port out of range, a blank keyword, a regular
// expression that does not compile, or a usable proxy with an unknown
// protocol.
func New(cfg domainflow.HTTPConfig, proxies []*domainflow.Proxy, opts ...Option) (*Checker, error) {
	c := &Checker{
		scheme:       strings.ToLower(cfg.Scheme),
		ports:        append([]int(nil), cfg.Ports...),
		timeout:      time.Duration(cfg.TimeoutMS) * time.Millisecond,
		follow:       cfg.FollowRedirects,
		maxRedirects: cfg.MaxRedirects,
		maxBody:      cfg.MaxBodyBytes,
		userAgent:    cfg.UserAgent,
		budget:       processBudget(),
	}
	for _, o := range opts {
		o(c)
	}
	switch c.scheme {
	case "":
		c.scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("httpcheck: scheme %q is not http or https", cfg.Scheme)
	}
	if len(c.ports) == 0 {
		c.ports = []int{defaultPort(c.scheme)}
	}
	for _, p := range c.ports {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("httpcheck: %d is not a port (1-65535)", p)
		}
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxRedirects < 0 {
		c.maxRedirects = 0
	}
	if c.maxBody <= 0 {
		c.maxBody = defaultMaxBodyBytes
	}
	if strings.TrimSpace(c.userAgent) == "" {
		c.userAgent = defaultUserAgent
	}
	kws, err := compileKeywords(cfg.Keywords, cfg.KeywordMode)
	if err != nil {
		return nil, err
	}
	c.keywords = kws

	wanted := map[uuid.UUID]bool{}
	for _, id := range cfg.ProxyIDs {
		wanted[id] = true
	}
	for _, p := range proxies {
		if p == nil || !p.Enabled || p.Health == domainflow.HealthUnhealthy {
			continue
		}
		if len(wanted) > 0 && !wanted[p.ID] {
			continue
		}
		switch p.Protocol {
		case "http", "https", "socks5":
		default:
			return nil, fmt.Errorf("httpcheck: proxy %s: protocol %q is not http, https or socks5", p.ID, p.Protocol)
		}
		if p.Port < 1 || p.Port > 65535 || p.Host == "" {
			return nil, fmt.Errorf("httpcheck: proxy %s: %q port %d is not a proxy address", p.ID, p.Host, p.Port)
		}
		cp := *p // the caller may change its copy; ours stays as it was
		c.proxies = append(c.proxies, &cp)
	}

	c.dialer = c.guard.Dialer(net.Dialer{KeepAlive: 30 * time.Second})
	idle := 2 * cfg.Concurrency
	if idle < 16 {
		idle = 16
	}
	c.transport = &http.Transport{
		// Proxies are spoken to by dialContext itself (see dial.go), so that
		// the proxy is asked for the address DNS returned while the request
		// keeps the domain name as its Host; the Transport never sees them.
		Proxy:       nil,
		DialContext: c.dialContext,
		TLSClientConfig: &tls.Config{
			// We are probing, not trusting: a campaign looks at what a name
			// serves, and parked, new or badly configured sites commonly have
			// self-signed, expired or mismatched certificates. Rejecting them
			// would hide exactly the pages we are asked to look at. Nothing
			// secret is sent (no cookies, no credentials; proxies, which do get
			// credentials, are verified in dial.go) and nothing received is
			// trusted beyond being recorded.
			InsecureSkipVerify: true, //nolint:gosec // see above
			MinVersion:         tls.VersionTLS10,
		},
		// No connection is reused. The Transport pools connections by URL
		// host alone, but a connection belongs to one Check's route (the
		// addresses DNS gave it, the proxy it drew): a pooled connection
		// would let a concurrent Check of the same name, or of another name
		// redirecting to the same parking host, go out through the wrong
		// proxy (and the Transport even dials in the background for a
		// request that then takes a connection freed by another, so a
		// proxy is used for nothing). Checks of distinct domains would not
		// share connections anyway; only a same-host redirect pays a new
		// connection. The idle limits below only bound the pool should
		// keep-alives ever be turned on.
		DisableKeepAlives:      true,
		MaxIdleConns:           idle,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// HTTP/1.1 only: it is what every site speaks, and a fresh
		// connection per domain gains nothing from HTTP/2.
		ForceAttemptHTTP2: false,
	}
	c.client = &http.Client{
		Transport:     c.transport,
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

// Close releases the Checker's idle connections. Check must not be running;
// a Check called afterwards returns an error result.
func (c *Checker) Close() error {
	c.closed.Store(true)
	c.transport.CloseIdleConnections()
	return nil
}

// Proxies returns how many proxies the Checker rotates over (0: direct).
func (c *Checker) Proxies() int { return len(c.proxies) }

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// pageURL is the URL of the home page of name on port, without the port when
// it is the scheme's default.
func (c *Checker) pageURL(name string, port int) string {
	host := name
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + host + "]"
	}
	if port != defaultPort(c.scheme) {
		host = net.JoinHostPort(name, strconv.Itoa(port))
	}
	return c.scheme + "://" + host + "/"
}

// checkRedirect follows redirects when configured to, at most maxRedirects of
// them, and stops at once on a loop (a URL already requested in this chain:
// without cookies it would only answer the same again).
func (c *Checker) checkRedirect(req *http.Request, via []*http.Request) error {
	if !c.follow {
		return http.ErrUseLastResponse
	}
	if len(via) > c.maxRedirects {
		return errTooManyRedirects
	}
	next := req.URL.String()
	for _, v := range via {
		if v.URL.String() == next {
			return errTooManyRedirects
		}
	}
	return nil
}

// Check fetches name's home page on each configured port in turn until one
// answers with an HTTP response. Connections go to addrs (the addresses DNS
// returned, tried in order) while the Host header and TLS server name are
// name; through a proxy when the Checker has any, the next one in turn.
//
// The result's Status is "ok" when a response arrived, whatever its status
// code; "timeout" when the response or its body did not arrive within the
// timeout (per port, redirects included) or ctx's deadline passed; "error"
// otherwise, with Error saying why. URL is the URL first requested on the
// port that answered (on the first port when none did); FinalURL the URL of
// the last response. Check never panics.
func (c *Checker) Check(ctx context.Context, name string, addrs []string) (res domainflow.HTTPResult) {
	start := time.Now()
	defer func() {
		// A bug here must cost one result, not the campaign's process; it
		// is logged with its stack so that it can be fixed.
		if r := recover(); r != nil {
			c.logger().Error("httpcheck: check panicked", "domain", name, "panic", r, "stack", string(debug.Stack()))
			res = domainflow.HTTPResult{Status: domainflow.CheckError, Error: fmt.Sprintf("internal error: %v", r)}
		}
		if res.LatencyMS == 0 {
			res.LatencyMS = ms(time.Since(start))
		}
		res.CheckedAt = time.Now().UTC()
	}()

	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if c.closed.Load() {
		return domainflow.HTTPResult{Status: domainflow.CheckError, Error: "checker closed"}
	}
	if !validHost(name) {
		return domainflow.HTTPResult{Status: domainflow.CheckError, Error: fmt.Sprintf("%q is not a domain name", name)}
	}

	var proxy *domainflow.Proxy
	if n := uint64(len(c.proxies)); n > 0 {
		proxy = c.proxies[(c.next.Add(1)-1)%n]
		id := proxy.ID
		res.ProxyID = &id
	}

	var failures []string
	timedOut := false
	blocked := "" // the first refusal by the guard, when there was one
	for i, port := range c.ports {
		u := c.pageURL(name, port)
		if i == 0 {
			res.URL = u
		}
		a := c.fetch(ctx, u, &route{name: name, addrs: cleanAddrs(addrs), proxy: proxy})
		if a.gotResponse {
			res.URL = u
			res.StatusCode = a.statusCode
			res.FinalURL = a.finalURL
			res.LatencyMS = ms(a.latency)
			defer a.free() // deferred: a panic while scanning must not keep the budget
			if b := a.body; b != nil && b.n > 0 {
				res.ContentLength = b.n
				res.Truncated = b.truncated
				t := textOf(b, a.contentType)
				res.Title = extractTitle(t.reader())
				res.KeywordsFound = matchKeywords(c.keywords, t)
			}
			switch {
			case a.err == nil:
				res.Status = domainflow.CheckOK
			case a.timedOut:
				res.Status = domainflow.CheckTimeout
				res.Error = a.err.Error()
			default:
				res.Status = domainflow.CheckError
				res.Error = a.err.Error()
			}
			return res
		}
		timedOut = timedOut || a.timedOut
		msg := a.err.Error()
		if a.blocked && blocked == "" {
			blocked = msg
			if len(c.ports) > 1 {
				blocked += " (port " + strconv.Itoa(port) + ")"
			}
		}
		if len(c.ports) > 1 {
			msg = "port " + strconv.Itoa(port) + ": " + msg
		}
		failures = append(failures, msg)
		if ctx.Err() != nil {
			break // the caller gave up: do not try the other ports
		}
	}
	res.Status = domainflow.CheckError
	res.Error = strings.Join(failures, "; ")
	switch {
	case blocked != "":
		// Whatever else failed, the campaign pointed at an address it may
		// not reach: that is what the result says, in the guard's words.
		res.Reason, res.Error = domainflow.ReasonBlocked, blocked
	case timedOut:
		res.Status = domainflow.CheckTimeout
	}
	return res
}

// attempt is the outcome of fetching one URL (and its redirects).
type attempt struct {
	gotResponse bool // an HTTP response arrived; the fields below are set
	statusCode  int
	finalURL    string
	contentType string
	body        *body // nil when the body was not read
	latency     time.Duration
	release     func() // gives back the budget the body holds; nil: none

	err      error // nil, or why there was no response or its body broke off
	timedOut bool
	blocked  bool // the guard refused an address: no response came
}

// free releases what the attempt's body holds.
func (a *attempt) free() {
	if a.body != nil {
		a.body.free()
		a.body = nil
	}
	if a.release != nil {
		a.release()
		a.release = nil
	}
}

// fetch GETs u with the Checker's timeout and reads at most maxBody bytes of
// the body of the last response, once the budget has room for it. The
// caller frees the attempt.
func (c *Checker) fetch(ctx context.Context, u string, rt *route) (a attempt) {
	start := time.Now()
	// The check's timeout counts the time spent on the network, not the
	// wait for room in the budget (below): a busy instance makes a check
	// wait its turn, never fail. So the timeout is a timer, stopped during
	// that wait, rather than a deadline.
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.timeout, func() { cancel(context.DeadlineExceeded) })
	defer timer.Stop()
	rt.done, rt.deadline = actx, start.Add(c.timeout)
	// The connections this fetch dialed die with it: none is left idle for
	// another domain's Check (whose route would differ) or leaks.
	defer rt.closeConns()

	req, err := http.NewRequestWithContext(context.WithValue(actx, routeKey{}, rt), http.MethodGet, u, nil)
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")

	resp, err := c.client.Do(req)
	if resp != nil {
		a.gotResponse = true
		a.statusCode = resp.StatusCode
		a.finalURL = resp.Request.URL.String()
		a.contentType = resp.Header.Get("Content-Type")
	}
	if err != nil {
		a.latency = time.Since(start)
		a.err, a.timedOut = c.explain(ctx, actx, err)
		a.blocked = errors.Is(a.err, netguard.ErrBlocked)
		if resp != nil && resp.Body != nil {
			resp.Body.Close() // already closed by the client on a redirect error
		}
		return a
	}

	// The Transport gunzips a body itself (it asked for gzip, and sets
	// Uncompressed) and then knows no length; a server that answers
	// deflate or br unasked is read as it came, never decompressed.
	limit, length := c.maxBody, resp.ContentLength
	want := limit
	if length >= 0 && length < limit {
		want = length
	}
	need := reservation(want)
	if size := c.budget.Size(); need > size {
		// A page bigger than the whole budget is read up to what fits.
		want = max(0, size-maxScanBytes) / chunkSize * chunkSize
		limit, need = want, reservation(want)
	}
	if !timer.Stop() {
		// The timeout fired as the answer came: it stands (its cancel may
		// not have run yet, so it is said here, not read from actx).
		resp.Body.Close()
		a.latency = time.Since(start)
		a.err, a.timedOut = fmt.Errorf("no response within %s", c.timeout), true
		return a
	}
	spent := time.Since(start)
	// Waited for within the caller's time (the engine's step), not the
	// check's: a check that cannot get room before the step ends is
	// dropped and done again, never recorded as a failure of the site.
	release, err := c.budget.reserve(ctx, need)
	if err != nil {
		resp.Body.Close()
		a.latency = time.Since(start)
		a.err, a.timedOut = c.explain(ctx, actx, err)
		return a
	}
	timer.Reset(c.timeout - spent)
	a.release = release
	a.body, err = readBody(resp.Body, limit, length)
	// Closing the body without reading the rest makes the Transport drop the
	// connection instead of draining it: a body of gigabytes costs nothing.
	resp.Body.Close()
	a.latency = time.Since(start)
	if err != nil {
		a.err, a.timedOut = c.explain(ctx, actx, err)
		a.err = fmt.Errorf("reading body: %w", a.err)
	}
	return a
}

// explain turns a client error into the error text of a result and whether
// it is a timeout.
func (c *Checker) explain(parent, actx context.Context, err error) (error, bool) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var blocked *netguard.BlockedError
	switch {
	case errors.As(err, &blocked):
		return blocked, false // its own words, without the dial's
	case errors.Is(err, errTooManyRedirects):
		return errTooManyRedirects, false
	case parent.Err() != nil:
		if errors.Is(parent.Err(), context.DeadlineExceeded) {
			return errors.New("deadline of the caller passed"), true
		}
		return errors.New("canceled"), false
	case errors.Is(context.Cause(actx), context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("no response within %s", c.timeout), true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("connection closed by the server (%v)", err), false
	}
	return err, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// validHost reports whether name can be the host of a URL on its own.
func validHost(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	if ip := net.ParseIP(name); ip != nil {
		return true
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return !strings.HasPrefix(name, ".") && !strings.Contains(name, "..")
}

// cleanAddrs keeps the addresses that are IPs (brackets removed); anything
// else could send the connection somewhere DNS did not say.
func cleanAddrs(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		a = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(a), "["), "]")
		if ip := net.ParseIP(a); ip != nil {
			out = append(out, ip.String())
		}
	}
	return out
}

// compiled keyword: a lowercase substring or a regular expression.
type keyword struct {
	text  string // as configured, reported when found
	lower string // plain mode
	re    *regexp.Regexp
}

func compileKeywords(kws []string, mode string) ([]keyword, error) {
	switch mode {
	case "", "plain", "regex":
	default:
		return nil, fmt.Errorf("httpcheck: keyword mode %q is not plain or regex", mode)
	}
	out := make([]keyword, 0, len(kws))
	seen := map[string]bool{}
	for _, k := range kws {
		if strings.TrimSpace(k) == "" {
			return nil, errors.New("httpcheck: blank keyword")
		}
		kw := keyword{text: k}
		key := k
		if mode == "regex" {
			re, err := regexp.Compile("(?i)" + k)
			if err != nil {
				return nil, fmt.Errorf("httpcheck: keyword %q is not a valid regular expression: %w", k, err)
			}
			kw.re = re
		} else {
			kw.lower = strings.ToLower(k)
			key = kw.lower // "Widgets" and "widgets" are one keyword
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, kw)
	}
	return out, nil
}
