package tests

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
)

// Results a user can trust: wildcard zones, lossy links and dead resolvers
// never change the answer, and a lead is a keyword match that says why.

// defaultsFlags let a campaign with the default DNS settings (2 s a try,
// one retry) run: engineFlags' 4 s job timeout is shorter than its longest
// check.
var defaultsFlags = []string{"--step-time", "300ms", "--job-timeout", "20s", "--rescue-after", "30s"}

func isFailed(s api.StatusSummary) bool { return s.Status == api.CampaignStatusFailed }

// A zone that answers every name (here the whole TLD .ws) is found before
// the DNS phase; its names are wildcard answers, never fetched nor leads,
// unless their answer differs. Names with MX or NS only are registered
// domains, not fetched. Leads need a keyword, and explain their score.
func TestTrustWildcardsRecordsAndLeads(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("shop", "abcd", 1, []string{".ws", ".test"}, 100)
		names := namesOf(t, gen) // ashop.ws, ashop.test, bshop.ws, …
		web := startWeb(t, nil)
		web.handle("ashop.test", htmlPage(200, "Acme", "widgets sold here"))
		web.handle("bshop.ws", htmlPage(200, "A real shop in .ws", "nothing we look for"))
		rules := map[string]dnsAction{"ashop.test": dnsAnswer, "bshop.ws": dnsAnswer, "cshop.test": dnsMXOnly, "dshop.test": dnsNSOnly}
		dnsSrv := startDNS(t, 0, func(name string) dnsAction {
			if a, ok := rules[name]; ok {
				return a
			}
			if strings.HasSuffix(name, ".ws") {
				return dnsWildcardA // *.ws answers everything else
			}
			return dnsNXDomain
		})
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "wildcards", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(500), Retries: ptr(1)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000)}})
		mustStatus(t, "create campaign", cr, err, 201)
		id := cr.JSON201.Id
		sum := alice.waitFor(ctx, t, id, 60*time.Second, "completion", completed)

		c, err := alice.api().GetCampaignWithResponse(ctx, id, nil)
		mustStatus(t, "get campaign", c, err, 200)
		wantZones := []api.WildcardZone{{Zone: ".ws", Addresses: []string{"127.0.0.2"}}}
		if got := deref(c.JSON200.Wildcards); mustJSON(got) != mustJSON(wantZones) {
			t.Errorf("wildcards %s; want %s", mustJSON(got), mustJSON(wantZones))
		}
		if deref(sum.Dns.Wildcard) != 3 || sum.Leads != 1 || sum.Dns.Validated != 4 {
			t.Errorf("summary %s; want 3 wildcard answers, 4 names found, 1 lead", mustJSON(sum))
		}

		got, _ := alice.allDomains(ctx, t, id, api.ListDomainsParams{})
		byName := map[string]api.Domain{}
		for _, d := range got {
			byName[d.Name] = d
		}
		if len(byName) != len(names) {
			t.Fatalf("%d domains listed, want %d", len(byName), len(names))
		}
		for _, n := range []string{"ashop.ws", "cshop.ws", "dshop.ws"} {
			d := byName[n]
			r := deref(d.DnsResult)
			if d.DnsStatus != api.DNSStatusError || deref(r.Reason) != api.DNSResultReasonWildcard || deref(r.WildcardZone) != ".ws" ||
				!slices.Equal(deref(r.Addresses), []string{"127.0.0.2"}) || d.HttpStatus != api.HTTPStatusSkipped || d.LeadStatus != api.LeadStatusNoMatch {
				t.Errorf("%s: %s; want a wildcard answer of .ws, its address kept, not fetched, no lead", n, mustJSON(d))
			}
		}
		lead := byName["ashop.test"]
		wantParts := []api.ScorePart{{Reason: "status_2xx", Points: 30}, {Reason: "title", Points: 10}, {Reason: "keyword:widgets", Points: 15}}
		if lead.LeadStatus != api.LeadStatusMatch || lead.LeadScore != 55 || mustJSON(deref(lead.ScoreBreakdown)) != mustJSON(wantParts) {
			t.Errorf("ashop.test: %s; want a lead of 55 = %s", mustJSON(lead), mustJSON(wantParts))
		}
		real := byName["bshop.ws"]
		if real.DnsStatus != api.DNSStatusOk || real.HttpStatus != api.HTTPStatusOk || real.LeadScore != 40 || real.LeadStatus != api.LeadStatusNoMatch {
			t.Errorf("bshop.ws: %s; want a real find in the wildcard zone (its own address), fetched, 40 points but no keyword: no lead", mustJSON(real))
		}
		mx, ns := byName["cshop.test"], byName["dshop.test"]
		if r := deref(mx.DnsResult); mx.DnsStatus != api.DNSStatusOk || r.Addresses != nil || len(deref(r.Mx)) != 1 || deref(r.Mx)[0].Host != "mail.cshop.test." ||
			mx.HttpStatus != api.HTTPStatusSkipped || mx.LeadStatus != api.LeadStatusNoMatch {
			t.Errorf("cshop.test: %s; want found by its MX, not fetched", mustJSON(mx))
		}
		if r := deref(ns.DnsResult); ns.DnsStatus != api.DNSStatusOk || !slices.Equal(deref(r.Ns), []string{"ns1.parking.example."}) || ns.HttpStatus != api.HTTPStatusSkipped {
			t.Errorf("dshop.test: %s; want found by its NS, not fetched", mustJSON(ns))
		}
		if n := byName["bshop.test"]; n.DnsStatus != api.DNSStatusError || deref(deref(n.DnsResult).Reason) != api.DNSResultReasonNxdomain {
			t.Errorf("bshop.test: %s; want NXDOMAIN", mustJSON(n))
		}
		if web.Hits("ashop.ws") != 0 {
			t.Error("a wildcard answer was fetched")
		}
	})
}

// With the default settings, a link that drops 10% of queries at random
// loses no real domain of 1,000 names, and every answer is exact.
func TestTrustLossyLink(t *testing.T) {
	eachDialectWith(t, func(t *testing.T, d string) *testServer { return startServer(t, d, defaultsFlags...) }, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("n", "abcdefghij", 3, []string{".test"}, 1000)
		names := namesOf(t, gen)
		real := map[string]dnsAction{}
		for i, n := range names {
			if i%10 < 3 {
				real[n] = dnsAnswer
			}
		}
		dnsSrv := startLossyDNS(t, 0.10, 42, ruleOf(real))
		web := startWeb(t, htmlPage(200, "", "a page"))
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "lossy link", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}},
			Http: &api.HTTPConfig{Ports: &[]int{web.Port}}})
		mustStatus(t, "create campaign", cr, err, 201)
		started := time.Now()
		sum := alice.waitFor(ctx, t, cr.JSON201.Id, 120*time.Second, "completion", completed)
		t.Logf("1,000 names over a link dropping 10%% (%d queries dropped) in %v", dnsSrv.dropped.Load(), time.Since(started).Round(time.Millisecond))
		if dnsSrv.dropped.Load() < 100 {
			t.Errorf("only %d queries were dropped: the link was not lossy", dnsSrv.dropped.Load())
		}
		if sum.Dns.Validated != int64(len(real)) || sum.Dns.Failed != int64(len(names)-len(real)) {
			t.Errorf("summary %s; want %d found, %d NXDOMAIN", mustJSON(sum), len(real), len(names)-len(real))
		}
		got, _ := alice.allDomains(ctx, t, cr.JSON201.Id, api.ListDomainsParams{})
		for i, d := range got {
			r := deref(d.DnsResult)
			want, reason := api.DNSStatusError, api.DNSResultReasonNxdomain
			if _, ok := real[names[i]]; ok {
				want, reason = api.DNSStatusOk, ""
			}
			if d.DnsStatus != want || deref(r.Reason) != reason || deref(r.Attempts) < 1 {
				t.Errorf("%s: %s; want %s %s", names[i], mustJSON(d), want, reason)
			}
		}
	})
}

// refusingDNS answers every query with REFUSED.
func refusingDNS(t *testing.T) string {
	return startDNS(t, 0, func(string) dnsAction { return dnsRefused }).Addr
}

// silentUDP reads nothing and answers nothing.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// closedUDP is a loopback port nobody listens on (connection refused).
func closedUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// A campaign whose resolvers are all dead fails within seconds naming each
// and why; a dead resolver beside a live one is demoted (its owner is told)
// and loses nothing; the resolvers' figures are the owner's only.
func TestTrustDeadResolvers(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "bob")
		ws := alice.connectWS(ctx, t, s)

		silent, refusing, closed := silentUDP(t), refusingDNS(t), closedUDP(t)
		gen := prefixGen("dead", "ab", 2, []string{".test"}, 100)
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "dead resolvers", Generation: gen, AutoStart: ptr(true),
			Dns: &api.DNSConfig{Resolvers: &[]string{silent, refusing, closed}, TimeoutMs: ptr(500), Retries: ptr(1)}})
		mustStatus(t, "create campaign", cr, err, 201)
		started := time.Now()
		alice.waitFor(ctx, t, cr.JSON201.Id, 30*time.Second, "failure", isFailed)
		t.Logf("failed %v after the start", time.Since(started).Round(time.Millisecond))
		c, err := alice.api().GetCampaignWithResponse(ctx, cr.JSON201.Id, nil)
		mustStatus(t, "get the failed campaign", c, err, 200)
		msg := deref(c.JSON200.Error)
		for _, want := range []string{silent + " (no reply", refusing + " (REFUSED", closed + " (", "refused"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		failedRs, err := alice.api().ListCampaignResolversWithResponse(ctx, cr.JSON201.Id)
		mustStatus(t, "list the failed campaign's resolvers", failedRs, err, 200)
		for _, r := range failedRs.JSON200.Items {
			if r.State != api.Demoted || r.Answers+r.Nxdomain != 0 || r.Timeouts+r.Errors == 0 || deref(r.LastError) == "" {
				t.Errorf("resolver %s of the failed campaign: %s; want demoted, with its failures counted", r.Address, mustJSON(r))
			}
		}
		ws.waitFor(t, "the error event", 10*time.Second, func(m wsMsg) bool {
			return m.Type == "error" && m.about(cr.JSON201.Id) && strings.Contains(string(m.Data), "none of the campaign")
		})

		// A dead resolver beside a live one.
		names := namesOf(t, gen)
		rules := map[string]dnsAction{names[0]: dnsAnswer, names[1]: dnsAnswer}
		live := startDNS(t, 0, ruleOf(rules))
		web := startWeb(t, htmlPage(200, "Shop", "widgets"))
		cr2, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "one dead, one live", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{silent, live.Addr}, TimeoutMs: ptr(500), Retries: ptr(1)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000)}})
		mustStatus(t, "create campaign", cr2, err, 201)
		id := cr2.JSON201.Id
		sum := alice.waitFor(ctx, t, id, 60*time.Second, "completion", completed)
		if sum.Dns.Validated != 2 || sum.Dns.Failed != 2 || sum.Leads != 2 {
			t.Errorf("summary %s; want both real names found and leads, the other two NXDOMAIN", mustJSON(sum))
		}
		ws.waitFor(t, "a warning about the dead resolver", 10*time.Second, func(m wsMsg) bool {
			return m.Type == "system_notification" && strings.Contains(string(m.Data), `"warning"`) && strings.Contains(string(m.Data), silent)
		})
		rs, err := alice.api().ListCampaignResolversWithResponse(ctx, id)
		mustStatus(t, "list resolvers", rs, err, 200)
		byAddr := map[string]api.ResolverStats{}
		for _, r := range rs.JSON200.Items {
			byAddr[r.Address] = r
		}
		if r := byAddr[silent]; r.State != api.Demoted || r.Answers != 0 || r.DemotedAt == nil {
			t.Errorf("the silent resolver: %s; want demoted, no answers", mustJSON(r))
		}
		if r := byAddr[live.Addr]; r.State != api.Active || r.Answers+r.Nxdomain < 4 || r.LatencyP50Ms == nil || r.Queries < r.Answers+r.Nxdomain {
			t.Errorf("the live resolver: %s; want active, answering every name", mustJSON(r))
		}

		// Someone else's campaign is missing, exactly.
		other, err := bob.api().ListCampaignResolversWithResponse(ctx, id)
		p := checkProblem(t, "bob lists alice's resolvers", other, err, 404, "not_found")
		missing, err := bob.api().ListCampaignResolversWithResponse(ctx, uuid.New())
		q := checkProblem(t, "bob lists a missing campaign's resolvers", missing, err, 404, "not_found")
		if p != nil && q != nil && (p.Detail == nil) != (q.Detail == nil) || deref(p.Detail) != deref(q.Detail) {
			t.Errorf("someone else's campaign answers %s, a missing one %s", other.Body, missing.Body)
		}
	})
}

// A campaign on a link where most names get no answer after every try
// completes with a warning: it never looks like a clean run.
func TestTrustWarnsWhenMostNamesAreUnanswered(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("void", "ab", 2, []string{".test"}, 100)
		names := namesOf(t, gen)
		drop := map[string]dnsAction{}
		for _, n := range names[:3] {
			drop[n] = dnsDrop // the resolver is alive (random names: NXDOMAIN) but these never answer
		}
		dnsSrv := startDNS(t, 0, ruleOf(drop))
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "mostly unanswered", Generation: gen, AutoStart: ptr(true),
			Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(200), Retries: ptr(0), MaxAttempts: ptr(3)}})
		mustStatus(t, "create campaign", cr, err, 201)
		alice.waitFor(ctx, t, cr.JSON201.Id, 60*time.Second, "completion", completed)
		c, err := alice.api().GetCampaignWithResponse(ctx, cr.JSON201.Id, nil)
		mustStatus(t, "get campaign", c, err, 200)
		w := deref(c.JSON200.Warnings)
		if len(w) != 1 || w[0].Code != "dns_unresolved" || !strings.Contains(w[0].Message, "3 of 4 names") {
			t.Errorf("warnings %s; want dns_unresolved, 3 of 4 names", mustJSON(w))
		}
		got, _ := alice.allDomains(ctx, t, cr.JSON201.Id, api.ListDomainsParams{})
		for i, d := range got {
			r := deref(d.DnsResult)
			if i < 3 && (d.DnsStatus != api.DNSStatusTimeout || deref(r.Attempts) != 3) {
				t.Errorf("%s: %s; want a timeout after 3 tries", names[i], mustJSON(d))
			}
		}
		if n := dnsSrv.Queries(names[0]); n < 3 {
			t.Errorf("%s was asked %d times; want 3 tries at least", names[0], n)
		}
	})
}

// dns.max_attempts follows the rules of every setting.
func TestTrustBadInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("bad", "ab", 1, []string{".test"}, 10)
		for _, c := range []struct {
			name string
			dns  api.DNSConfig
		}{
			{"max_attempts 0", api.DNSConfig{MaxAttempts: ptr(0)}},
			{"max_attempts 21", api.DNSConfig{MaxAttempts: ptr(21)}},
			{"max_attempts not above retries", api.DNSConfig{Retries: ptr(3), MaxAttempts: ptr(3)}},
		} {
			r, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: c.name, Generation: gen, Dns: &c.dns})
			p := checkProblem(t, c.name, r, err, 400, "invalid")
			checkNames(t, c.name, p, byPointer, "/dns/max_attempts")
		}
		ok, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "defaults", Generation: gen})
		mustStatus(t, "create with the defaults", ok, err, 201)
		if d := ok.JSON201.Config.Dns; deref(d.MaxAttempts) != 6 || deref(d.Retries) != 1 {
			t.Errorf("default dns config %s; want max_attempts 6, retries 1", mustJSON(d))
		}
	})
}
