package httpcheck_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
	"github.com/domainflow/domainflow/netguard"
)

// counted is an HTTP server on ip that counts its requests.
type counted struct {
	*httptest.Server
	hits atomic.Int64
}

func countedServer(t *testing.T, ip string, h http.HandlerFunc) *counted {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	c := &counted{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		h(w, r)
	}))
	c.Server.Listener.Close()
	c.Server.Listener = ln
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func guardOpening(cidrs ...string) httpcheck.Option {
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	return httpcheck.WithGuard(netguard.New(ps))
}

func checkerWith(t *testing.T, cfg domainflow.HTTPConfig, proxies []*domainflow.Proxy, opts ...httpcheck.Option) *httpcheck.Checker {
	t.Helper()
	c, err := httpcheck.New(cfg, proxies, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantBlocked checks that res is a blocked fetch that tells nothing of what
// is at the address.
func wantBlocked(t *testing.T, what string, res domainflow.HTTPResult) {
	t.Helper()
	if res.Status != domainflow.CheckError || res.Reason != domainflow.ReasonBlocked || !strings.HasPrefix(res.Error, "blocked: ") {
		t.Errorf("%s: status %q reason %q error %q; want error, blocked", what, res.Status, res.Reason, res.Error)
	}
	if res.StatusCode != 0 || res.Title != "" || res.ContentLength != 0 || res.FinalURL != "" || len(res.KeywordsFound) > 0 || res.Truncated {
		t.Errorf("%s: a blocked fetch tells of the destination: %+v", what, res)
	}
}

// With no range opened, a name whose DNS answer is loopback is not fetched:
// the result says blocked, whatever the port, and the server sees nothing.
func TestGuardRefusesLoopbackByDefault(t *testing.T) {
	srv := countedServer(t, "127.0.0.1", page(html("Admin console", "secret token")))
	cfg := config(srv.port(), closedPort(t))
	cfg.KeywordMode, cfg.Keywords = "regex", []string{".", "secret"}
	c := checkerWith(t, cfg, nil)
	for _, addrs := range [][]string{{"127.0.0.1"}, {"::ffff:127.0.0.1"}, {"[::ffff:7f00:1]"}, {"0.0.0.0"}} {
		res := c.Check(context.Background(), testName, addrs)
		wantBlocked(t, strings.Join(addrs, ","), res)
		if res.URL != nameURL("http", srv.port(), "/") {
			t.Errorf("URL %q", res.URL)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests; want none", n)
	}
}

func (c *counted) port() int { return portOf(c.URL) }

// A redirect from an allowed site to a refused address is refused at the
// hop: the site is fetched, the target never is, and the result is blocked
// (not the redirect's status).
func TestGuardRefusesRedirectHop(t *testing.T) {
	target := countedServer(t, "127.0.0.1", page(html("Secret", "internal")))
	secret := "http://127.0.0.1:" + strconv.Itoa(target.port()) + "/secret"
	byName := "http://localhost:" + strconv.Itoa(target.port()) + "/secret"
	for _, loc := range []string{secret, byName} {
		origin := countedServer(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusFound)
		})
		c := checkerWith(t, config(origin.port()), nil, guardOpening("127.0.0.2/32"))
		res := c.Check(context.Background(), testName, []string{"127.0.0.2"})
		wantBlocked(t, "redirect to "+loc, res)
		if origin.hits.Load() != 1 {
			t.Errorf("redirect to %s: the allowed origin got %d requests; want 1", loc, origin.hits.Load())
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests; want none", n)
	}
}

// A refused address among DNS's answers is skipped for the next one.
func TestGuardSkipsRefusedAddress(t *testing.T) {
	srv := countedServer(t, "127.0.0.2", page(html("Allowed", "")))
	c := checkerWith(t, config(srv.port()), nil, guardOpening("127.0.0.2/32"))
	res := c.Check(context.Background(), testName, []string{"127.0.0.1", "127.0.0.2"})
	if res.Status != domainflow.CheckOK || res.Title != "Allowed" || res.Reason != "" {
		t.Errorf("got %+v; want the allowed address's page", res)
	}

	// Only refused failures: blocked. A refused address beside one that
	// fails otherwise: that failure.
	res = c.Check(context.Background(), testName, []string{"127.0.0.1", "10.0.0.1"})
	wantBlocked(t, "every address refused", res)
	cl := checkerWith(t, config(closedPort(t)), nil, guardOpening("127.0.0.1/32"))
	res = cl.Check(context.Background(), testName, []string{"10.0.0.1", "127.0.0.1"})
	if res.Reason != "" || res.Status != domainflow.CheckError || strings.Contains(res.Error, "blocked") {
		t.Errorf("refused and closed: got %+v; want the closed port's error", res)
	}
}

// Through a proxy, the address the proxy is asked for is judged as a direct
// connection would be, and so is the proxy's own.
func TestGuardThroughProxy(t *testing.T) {
	target := countedServer(t, "127.0.0.2", page(html("Behind", "")))
	fp := newForwardProxy(t, "", "", false) // on 127.0.0.1
	p := proxyFor("http", fp.port(), "", "")

	c := checkerWith(t, config(target.port()), []*domainflow.Proxy{p}, guardOpening("127.0.0.1/32"))
	res := c.Check(context.Background(), testName, []string{"127.0.0.2"})
	wantBlocked(t, "target refused, proxy allowed", res)
	if got := fp.seenTargets(); len(got) != 0 {
		t.Errorf("the proxy was asked for %q; want nothing", got)
	}

	c = checkerWith(t, config(target.port()), []*domainflow.Proxy{p}, guardOpening("127.0.0.2/32"))
	res = c.Check(context.Background(), testName, []string{"127.0.0.2"})
	wantBlocked(t, "proxy refused, target allowed", res)
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the target got %d requests; want none", n)
	}

	c = checkerWith(t, config(target.port()), []*domainflow.Proxy{p}, guardOpening("127.0.0.1/32", "127.0.0.2/32"))
	if res := c.Check(context.Background(), testName, []string{"127.0.0.2"}); res.Status != domainflow.CheckOK || res.Title != "Behind" {
		t.Errorf("both allowed: got %+v", res)
	}
}
