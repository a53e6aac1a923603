package httpcheck_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
	"github.com/domainflow/domainflow/netguard"
)

// TestMain fails the run when a test leaves goroutines behind: the
// Transport's connection goroutines, proxy tunnels, dials…
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testName is the domain checked: it exists in no DNS, so the checker must
// connect to the address it is given while sending it as the Host.
const testName = "shop-abc.test"

var loopback = []string{"127.0.0.1"}

// openLoopback lets the checkers of these tests reach their servers on
// loopback, which the outbound guard refuses by default.
var openLoopback = httpcheck.WithGuard(netguard.New([]netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}))

// config is the default HTTP config on the given ports with a short timeout.
func config(ports ...int) domainflow.HTTPConfig {
	cfg := domainflow.DefaultHTTPConfig()
	cfg.Ports = ports
	cfg.TimeoutMS = 2000
	cfg.UserAgent = "DomainFlow-test/1.0"
	return cfg
}

func newChecker(t testing.TB, cfg domainflow.HTTPConfig, proxies ...*domainflow.Proxy) *httpcheck.Checker {
	t.Helper()
	c, err := httpcheck.New(cfg, proxies, openLoopback)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// server is an httptest server on 127.0.0.1 that remembers the Host, User-
// Agent and TLS server name of every request.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	hosts []string
	uas   []string
	snis  []string
}

func newServer(t testing.TB, h http.Handler) *server {
	return startServer(t, h, false)
}

func newTLSServer(t testing.TB, h http.Handler) *server {
	return startServer(t, h, true)
}

func startServer(t testing.TB, h http.Handler, tls bool) *server {
	t.Helper()
	s := &server{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hosts = append(s.hosts, r.Host)
		s.uas = append(s.uas, r.UserAgent())
		if r.TLS != nil {
			s.snis = append(s.snis, r.TLS.ServerName)
		}
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(wrapped)
	} else {
		s.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() int { return portOf(s.URL) }

func (s *server) seen() (hosts, uas, snis []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hosts...), append([]string(nil), s.uas...), append([]string(nil), s.snis...)
}

func portOf(rawURL string) int {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		panic(err)
	}
	return p
}

// closedPort is a loopback port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// nameURL is the URL the checker requests for testName on port.
func nameURL(scheme string, port int, path string) string {
	return scheme + "://" + net.JoinHostPort(testName, strconv.Itoa(port)) + path
}

func html(title, body string) string {
	return "<!doctype html><html><head><title>" + title + "</title></head><body>" + body + "</body></html>"
}

func page(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(body))
	}
}
