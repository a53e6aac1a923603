package tests

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
)

// The outbound guard: what a campaign, a proxy or a proxy check may connect
// to on a user's behalf. The harness opens loopback to every other test
// (DOMAINFLOW_ALLOWED_NETWORKS); these tests close it again with the flag,
// which wins over the environment.

// noNetworks is the flag that opens no range at all.
var noNetworks = []string{"--allowed-networks", ""}

// countingListener accepts TCP connections on 127.0.0.1 and counts them.
func countingListener(t *testing.T) (*net.TCPAddr, *atomic.Int64) {
	t.Helper()
	n := new(atomic.Int64)
	return listen(t, func(net.Conn) { n.Add(1) }), n
}

// TestGuardRefusesLoopback: proxies and resolvers on loopback, accepted
// while the operator opened loopback, are refused once it is closed — the
// proxy test and the background health check say blocked without
// connecting (the same for an open and a closed port), a campaign naming
// such a resolver fails before its DNS phase naming it, and new ones are
// refused with 422 naming the field.
func TestGuardRefusesLoopback(t *testing.T) {
	start := func(t *testing.T, d string) *testServer {
		return startServer(t, d, append(slices.Clone(engineFlags), "--proxy-check-interval", "300ms")...)
	}
	eachDialectWith(t, start, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()

		openAddr, accepted := countingListener(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedPort := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		gen := prefixGen("guard", "ab", 1, []string{".test"}, 10)
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsAnswer })
		web := startWeb(t, htmlPage(200, "Admin console", "secret"))

		// While loopback is open (the harness's environment).
		mk := func(name string, port int) uuid.UUID {
			r, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: name, Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: port})
			mustStatus(t, "create proxy "+name, r, err, 201)
			return r.JSON201.Id
		}
		openID, closedID := mk("open port", openAddr.Port), mk("closed port", closedPort)
		tr, err := cl.TestProxyWithResponse(ctx, openID)
		mustStatus(t, "test the open proxy with loopback allowed", tr, err, 200)
		if tr.JSON200.Health != api.Healthy {
			t.Fatalf("with loopback allowed the proxy on an open port is %s; want healthy (the control)", tr.Body)
		}
		draft, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "resolver on loopback", Generation: gen,
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0)},
			Http: &api.HTTPConfig{Ports: &[]int{web.Port}, TimeoutMs: ptr(1000)}})
		mustStatus(t, "create a campaign with a loopback resolver while loopback is allowed", draft, err, 201)

		// The operator closes loopback.
		s.Flags = append(s.Flags, noNetworks...)
		s.restart(t)
		cl = alice.api() // on the new address
		connects, queries := accepted.Load(), dnsSrv.total.Load()

		var errs []string
		for _, id := range []uuid.UUID{openID, closedID} {
			tr, err := cl.TestProxyWithResponse(ctx, id)
			mustStatus(t, "test proxy", tr, err, 200)
			p := tr.JSON200
			if p.Health != api.Unhealthy || p.LatencyMs != nil || !strings.HasPrefix(deref(p.LastError), "blocked: ") {
				t.Errorf("proxy test on a refused address: %s; want unhealthy, last_error blocked: …", tr.Body)
			}
			errs = append(errs, deref(p.LastError))
		}
		if errs[0] != errs[1] {
			t.Errorf("the open port answers %q, the closed one %q: the test tells them apart", errs[0], errs[1])
		}
		// The background check says the same, again without connecting.
		checked := time.Now()
		for {
			g, err := cl.GetProxyWithResponse(ctx, openID)
			mustStatus(t, "get proxy", g, err, 200)
			if p := g.JSON200; p.LastCheckedAt != nil && p.LastCheckedAt.After(checked) {
				if p.Health != api.Unhealthy || !strings.HasPrefix(deref(p.LastError), "blocked: ") {
					t.Errorf("after the background check the proxy is %s; want unhealthy, blocked", g.Body)
				}
				break
			}
			if time.Since(checked) > 20*time.Second {
				t.Fatal("the background health check did not run within 20s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := accepted.Load() - connects; n != 0 {
			t.Errorf("the proxy's port got %d connections once loopback was closed; want none", n)
		}

		// New proxies on refused addresses, or moved there: 422 naming /host.
		for _, host := range []string{"127.0.0.1", "localhost", "::1", "::ffff:127.0.0.1", "10.0.0.1", "169.254.169.254", "0.0.0.0"} {
			r, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "refused", Protocol: api.ProxyProtocolSocks5, Host: host, Port: 1080})
			checkNames(t, "create proxy at "+host, checkProblem(t, "create proxy at "+host, r, err, 422, "unprocessable"), byPointer, "/host")
		}
		ok, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "elsewhere", Protocol: api.ProxyProtocolHttp, Host: "proxy.example", Port: 3128, Enabled: ptr(false)})
		mustStatus(t, "create a proxy at a name that does not resolve", ok, err, 201)
		for _, host := range []string{"127.0.0.1", "192.168.1.1"} {
			r, err := cl.UpdateProxyWithResponse(ctx, ok.JSON201.Id, api.ProxyUpdate{Host: ptr(host)})
			checkNames(t, "move a proxy to "+host, checkProblem(t, "move a proxy to "+host, r, err, 422, "unprocessable"), byPointer, "/host")
		}
		if g, err := cl.GetProxyWithResponse(ctx, ok.JSON201.Id); err == nil && g.JSON200 != nil && g.JSON200.Host != "proxy.example" {
			t.Errorf("a refused move changed the proxy: %s", g.Body)
		}

		// New campaigns naming refused resolvers: 422 naming each.
		for _, tc := range []struct {
			resolvers []string
			pointers  []string
		}{
			{[]string{"127.0.0.1:53"}, []string{"/dns/resolvers/0"}},
			{[]string{dnsSrv.Addr}, []string{"/dns/resolvers/0"}},
			{[]string{"1.1.1.1:53", "[::1]:53", "localhost:53", "[::ffff:10.0.0.1]:53", "100.64.0.1:53"},
				[]string{"/dns/resolvers/1", "/dns/resolvers/2", "/dns/resolvers/3", "/dns/resolvers/4"}},
		} {
			what := "create a campaign with resolvers " + strings.Join(tc.resolvers, ",")
			r, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "refused resolvers", Generation: gen,
				Dns: &api.DNSConfig{Resolvers: &tc.resolvers}})
			p := checkProblem(t, what, r, err, 422, "unprocessable")
			checkNames(t, what, p, byPointer, tc.pointers...)
			if p != nil && p.Errors != nil && len(*p.Errors) != len(tc.pointers) {
				t.Errorf("%s: errors %s; want only %v", what, describeErrors(p), tc.pointers)
			}
		}

		// The campaign made while loopback was open fails before its DNS
		// phase, naming the resolver; the resolver is never asked.
		st, err := cl.StartCampaignWithResponse(ctx, draft.JSON201.Id)
		mustStatus(t, "start the campaign with a loopback resolver", st, err, 200)
		alice.waitFor(ctx, t, draft.JSON201.Id, 30*time.Second, "failure", func(s api.StatusSummary) bool { return s.Status == api.CampaignStatusFailed })
		g, err := cl.GetCampaignWithResponse(ctx, draft.JSON201.Id, nil)
		mustStatus(t, "get the failed campaign", g, err, 200)
		if e := deref(g.JSON200.Error); !strings.Contains(e, dnsSrv.Addr) || !strings.Contains(e, "blocked") {
			t.Errorf("the campaign failed with %q; want the blocked resolver named", e)
		}
		if n := dnsSrv.total.Load() - queries; n != 0 {
			t.Errorf("the refused resolver got %d queries; want none", n)
		}
		if n := web.TotalHits(); n != 0 {
			t.Errorf("the web server got %d requests; want none", n)
		}
	})
}

// TestGuardBlocksFetches: with only 127.0.0.2/32 open (where the DNS server
// and an outside site stand), a name whose DNS answer is 127.0.0.1 is not
// fetched, and a redirect from the allowed site to 127.0.0.1 is refused at
// the hop; both are recorded as blocked, tell nothing of the loopback
// server (which gets no request) and are no lead.
func TestGuardBlocksFetches(t *testing.T) {
	start := func(t *testing.T, d string) *testServer {
		return startServer(t, d, append(slices.Clone(engineFlags), "--allowed-networks", "127.0.0.2/32")...)
	}
	eachDialectWith(t, start, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()

		secret := startWeb(t, htmlPage(200, "Admin console", "token 4f1c"))
		outside := startWebOn(t, "127.0.0.2", func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "http://127.0.0.1:"+strconv.Itoa(secret.Port)+"/secret", http.StatusFound)
		})
		direct := prefixGen("direct", "ab", 1, []string{".test"}, 10)
		redirected := prefixGen("redirected", "ab", 1, []string{".test"}, 10)
		plan := map[string]dnsAction{}
		for _, n := range namesOf(t, direct) {
			plan[n] = dnsAnswer // 127.0.0.1
		}
		for _, n := range namesOf(t, redirected) {
			plan[n] = dnsWildcardA // 127.0.0.2
		}
		dnsSrv := startDNSOn(t, "127.0.0.2", 0, ruleOf(plan))

		for _, tc := range []struct {
			name string
			gen  api.GenerationConfig
			port int
		}{
			{"DNS answers loopback", direct, secret.Port},
			{"an allowed site redirects to loopback", redirected, outside.Port},
		} {
			c, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: tc.name, Generation: tc.gen, AutoStart: ptr(true),
				Dns:      &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(500), Retries: ptr(0)},
				Http:     &api.HTTPConfig{Ports: &[]int{tc.port}, TimeoutMs: ptr(2000), KeywordMode: ptr(api.Regex), Keywords: &[]string{".", "token"}},
				Analysis: &api.AnalysisConfig{MinLeadScore: ptr(0)}})
			mustStatus(t, "create campaign: "+tc.name, c, err, 201)
			sum := alice.waitFor(ctx, t, c.JSON201.Id, 60*time.Second, "completion", completed)
			if sum.Leads != 0 {
				t.Errorf("%s: %d leads; want none", tc.name, sum.Leads)
			}
			domains, _ := alice.allDomains(ctx, t, c.JSON201.Id, api.ListDomainsParams{})
			if len(domains) != len(namesOf(t, tc.gen)) {
				t.Fatalf("%s: %d domains", tc.name, len(domains))
			}
			for _, d := range domains {
				h := d.HttpResult
				if d.DnsStatus != api.DNSStatusOk || h == nil {
					t.Errorf("%s: %s: dns %s, http_result %v; want resolved and fetched", tc.name, d.Name, d.DnsStatus, h)
					continue
				}
				if d.HttpStatus != api.HTTPStatusError || h.Status != api.HTTPStatusError || deref(h.Reason) != api.HTTPResultReasonBlocked ||
					!strings.HasPrefix(deref(h.Error), "blocked: ") {
					t.Errorf("%s: %s: http %s reason %v error %q; want error, reason blocked", tc.name, d.Name, h.Status, deref(h.Reason), deref(h.Error))
				}
				if h.StatusCode != nil || h.Title != nil || h.FinalUrl != nil || h.KeywordsFound != nil || deref(h.ContentLength) != 0 || h.Truncated != nil {
					t.Errorf("%s: %s: a blocked fetch tells of the destination: status_code %v title %v final_url %v keywords %v content_length %v",
						tc.name, d.Name, deref(h.StatusCode), deref(h.Title), deref(h.FinalUrl), deref(h.KeywordsFound), deref(h.ContentLength))
				}
				if d.LeadStatus != api.LeadStatusNoMatch {
					t.Errorf("%s: %s: lead %s; want no_match", tc.name, d.Name, d.LeadStatus)
				}
			}
		}
		if n := secret.TotalHits(); n != 0 {
			t.Errorf("the loopback server got %d requests; want none", n)
		}
		if n, want := outside.TotalHits(), len(namesOf(t, redirected)); n < want {
			t.Errorf("the allowed site got %d requests; want at least one per name (%d): the first hop is allowed", n, want)
		}
	})
}

// A bad CIDR in --allowed-networks or its variable stops serve, naming the
// flag.
func TestGuardBadNetworksStopTheStart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, bad := range []string{"10.0.0.0/33", "127.0.0.0/8,localhost", "10.0.0.0/8;127.0.0.0/8"} {
		for _, viaEnv := range []bool{false, true} {
			args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite://" + t.TempDir() + "/domainflow.db"}
			env := os.Environ()
			if viaEnv {
				env = append(env, "DOMAINFLOW_ALLOWED_NETWORKS="+bad)
			} else {
				args = append(args, "--allowed-networks", bad)
			}
			serveRefuses(ctx, t, fmt.Sprintf("allowed networks %q (env %v)", bad, viaEnv), env, args, "allowed-networks")
		}
	}
}
