package httpcheck_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
)

func proxyFor(protocol string, port int, user, pass string) *domainflow.Proxy {
	return &domainflow.Proxy{
		ID: uuid.New(), Name: protocol + " proxy", Protocol: protocol,
		Host: "127.0.0.1", Port: port, Username: user, Password: pass,
		Enabled: true, Health: domainflow.HealthHealthy,
	}
}

func TestCheckThroughProxy(t *testing.T) {
	target := newServer(t, page(html("Proxied", "widgets")))
	secureTarget := newTLSServer(t, page(html("Proxied TLS", "")))
	fp := newForwardProxy(t, "alice", "s3cret", false)
	tlsProxy := newForwardProxy(t, "alice", "s3cret", true)
	socks := newSOCKSServer(t, "bob", "hunter2")
	openSocks := newSOCKSServer(t, "", "")
	dead := closedPort(t)

	tests := []struct {
		name      string
		proxy     *domainflow.Proxy
		scheme    string
		port      int
		trustTLS  bool // trust tlsProxy's certificate
		wantState string
		wantTitle string
		wantError string
		via       func() []string // what the proxy was asked to connect to
	}{
		{
			name: "HTTP proxy with credentials, http target", proxy: proxyFor("http", fp.port(), "alice", "s3cret"),
			scheme: "http", port: target.port(), wantState: "ok", wantTitle: "Proxied", via: fp.seenTargets,
		},
		{
			name: "HTTP proxy, https target", proxy: proxyFor("http", fp.port(), "alice", "s3cret"),
			scheme: "https", port: secureTarget.port(), wantState: "ok", wantTitle: "Proxied TLS", via: fp.seenTargets,
		},
		{
			name: "HTTPS proxy", proxy: proxyFor("https", tlsProxy.port(), "alice", "s3cret"), trustTLS: true,
			scheme: "http", port: target.port(), wantState: "ok", wantTitle: "Proxied", via: tlsProxy.seenTargets,
		},
		{
			name: "HTTPS proxy with an untrusted certificate", proxy: proxyFor("https", tlsProxy.port(), "alice", "s3cret"),
			scheme: "http", port: target.port(), wantState: "error", wantError: "certificate",
		},
		{
			name: "HTTP proxy refuses the credentials", proxy: proxyFor("http", fp.port(), "alice", "wrong"),
			scheme: "http", port: target.port(), wantState: "error", wantError: "credentials refused (407",
		},
		{
			name: "HTTP proxy cannot reach the target", proxy: proxyFor("http", fp.port(), "alice", "s3cret"),
			scheme: "http", port: dead, wantState: "error", wantError: "502 Bad Gateway",
		},
		{
			name: "proxy down", proxy: proxyFor("http", dead, "", ""),
			scheme: "http", port: target.port(), wantState: "error", wantError: "proxy 127.0.0.1:" + strconv.Itoa(dead),
		},
		{
			name: "SOCKS5 with credentials", proxy: proxyFor("socks5", socks.port(), "bob", "hunter2"),
			scheme: "http", port: target.port(), wantState: "ok", wantTitle: "Proxied", via: socks.seenTargets,
		},
		{
			name: "SOCKS5 without authentication, https target", proxy: proxyFor("socks5", openSocks.port(), "", ""),
			scheme: "https", port: secureTarget.port(), wantState: "ok", wantTitle: "Proxied TLS", via: openSocks.seenTargets,
		},
		{
			name: "SOCKS5 refuses the credentials", proxy: proxyFor("socks5", socks.port(), "bob", "wrong"),
			scheme: "http", port: target.port(), wantState: "error", wantError: "proxy 127.0.0.1:",
		},
		{
			name: "SOCKS5 cannot reach the target", proxy: proxyFor("socks5", openSocks.port(), "", ""),
			scheme: "http", port: dead, wantState: "error", wantError: "refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(tt.port)
			cfg.Scheme = tt.scheme
			c := newChecker(t, cfg, tt.proxy)
			if tt.trustTLS {
				roots := x509.NewCertPool()
				roots.AddCert(tlsProxy.Certificate())
				httpcheck.SetProxyRoots(c, roots)
			}
			var before []string
			if tt.via != nil {
				before = tt.via()
			}
			res := c.Check(context.Background(), testName, loopback)
			if res.Status != tt.wantState || res.Title != tt.wantTitle || !strings.Contains(res.Error, tt.wantError) {
				t.Fatalf("got Status %q Title %q Error %q; want %q %q …%s…", res.Status, res.Title, res.Error, tt.wantState, tt.wantTitle, tt.wantError)
			}
			if res.ProxyID == nil || *res.ProxyID != tt.proxy.ID {
				t.Errorf("ProxyID = %v, want %v", res.ProxyID, tt.proxy.ID)
			}
			if strings.Contains(res.Error, tt.proxy.Password) && tt.proxy.Password != "" {
				t.Errorf("Error %q shows the proxy password", res.Error)
			}
			if tt.via != nil {
				// The proxy is asked for the address DNS returned, not the name.
				got := tt.via()[len(before):]
				if want := []string{"127.0.0.1:" + strconv.Itoa(tt.port)}; !slices.Equal(got, want) {
					t.Errorf("proxy was asked for %q, want %q", got, want)
				}
			}
		})
	}
	if fp.plain.Load() != 0 {
		t.Errorf("the checker sent %d plain proxy requests; it tunnels", fp.plain.Load())
	}
	if fp.refused.Load() != 1 {
		t.Errorf("proxy refused %d requests, want 1", fp.refused.Load())
	}
	// Every request through a proxy still carried the name as its Host.
	for _, s := range []*server{target, secureTarget} {
		hosts, _, _ := s.seen()
		for _, h := range hosts {
			if !strings.HasPrefix(h, testName+":") {
				t.Errorf("target saw Host %q", h)
			}
		}
	}
}

// The test proxy also forwards plain proxy requests (checked with the
// standard client, as the checker itself only tunnels).
func TestForwardProxyPlainRequests(t *testing.T) {
	target := newServer(t, page(html("Plain via proxy", "")))
	fp := newForwardProxy(t, "alice", "s3cret", false)
	proxyURL, _ := url.Parse(fp.URL)
	proxyURL.User = url.UserPassword("alice", "s3cret")
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(target.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || fp.plain.Load() != 1 || fp.connects.Load() != 0 {
		t.Errorf("status %d, plain %d, connects %d", resp.StatusCode, fp.plain.Load(), fp.connects.Load())
	}
}

func TestProxySelection(t *testing.T) {
	target := newServer(t, page(html("Direct or not", "")))
	fp := newForwardProxy(t, "", "", false)

	disabled := proxyFor("http", fp.port(), "", "")
	disabled.Enabled = false
	unhealthy := proxyFor("http", fp.port(), "", "")
	unhealthy.Health = domainflow.HealthUnhealthy
	unknown := proxyFor("http", fp.port(), "", "")
	unknown.Health = domainflow.HealthUnknown
	other := proxyFor("http", fp.port(), "", "")

	tests := []struct {
		name     string
		proxies  []*domainflow.Proxy
		ids      []uuid.UUID
		wantUsed *domainflow.Proxy
	}{
		{"no proxies: direct", nil, nil, nil},
		{"disabled and unhealthy are skipped: direct", []*domainflow.Proxy{disabled, unhealthy}, nil, nil},
		{"health unknown is used", []*domainflow.Proxy{unhealthy, unknown}, nil, unknown},
		{"proxy_ids selects among the given", []*domainflow.Proxy{unknown, other}, []uuid.UUID{other.ID}, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(target.port())
			cfg.ProxyIDs = tt.ids
			c := newChecker(t, cfg, tt.proxies...)
			before := fp.connects.Load()
			res := c.Check(context.Background(), testName, loopback)
			if res.Status != domainflow.CheckOK {
				t.Fatalf("got %+v", res)
			}
			used := fp.connects.Load() - before
			if tt.wantUsed == nil {
				if res.ProxyID != nil || used != 0 || c.Proxies() != 0 {
					t.Errorf("want direct: ProxyID %v, tunnels %d", res.ProxyID, used)
				}
				return
			}
			if res.ProxyID == nil || *res.ProxyID != tt.wantUsed.ID || used != 1 {
				t.Errorf("ProxyID %v tunnels %d, want %v and 1", res.ProxyID, used, tt.wantUsed.ID)
			}
		})
	}
}

func TestProxyRotation(t *testing.T) {
	target := newServer(t, page(html("Rotated", "")))
	a := newForwardProxy(t, "alice", "a-pass", false)
	b := newForwardProxy(t, "bob", "b-pass", false)
	pa := proxyFor("http", a.port(), "alice", "a-pass")
	pb := proxyFor("http", b.port(), "bob", "b-pass")
	c := newChecker(t, config(target.port()), pa, pb)

	var ids []uuid.UUID
	for range 6 {
		res := c.Check(context.Background(), testName, loopback)
		if res.Status != domainflow.CheckOK || res.ProxyID == nil {
			t.Fatalf("got %+v", res)
		}
		ids = append(ids, *res.ProxyID)
	}
	if want := []uuid.UUID{pa.ID, pb.ID, pa.ID, pb.ID, pa.ID, pb.ID}; !slices.Equal(ids, want) {
		t.Errorf("ProxyIDs %v, want alternating %v", ids, want)
	}
	if a.connects.Load() != 3 || b.connects.Load() != 3 {
		t.Errorf("tunnels: a %d, b %d; want 3 each", a.connects.Load(), b.connects.Load())
	}

	// Concurrently, the rotation stays even.
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[uuid.UUID]int{}
	for range 32 {
		wg.Go(func() {
			res := c.Check(context.Background(), testName, loopback)
			mu.Lock()
			defer mu.Unlock()
			if res.Status == domainflow.CheckOK && res.ProxyID != nil {
				count[*res.ProxyID]++
			}
		})
	}
	wg.Wait()
	if count[pa.ID] != 16 || count[pb.ID] != 16 {
		t.Errorf("concurrent rotation: %v, want 16 each", count)
	}
	if a.connects.Load() != 19 || b.connects.Load() != 19 {
		t.Errorf("tunnels: a %d, b %d; want 19 each", a.connects.Load(), b.connects.Load())
	}
}
