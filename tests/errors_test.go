package tests

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
)

// validCreate is a campaign body every bad-input case breaks in one place.
func validCreate() api.CampaignCreate {
	return api.CampaignCreate{
		Name:       "valid",
		Generation: testGeneration(),
		Dns:        &api.DNSConfig{Resolvers: &[]string{"127.0.0.1:5353"}},
		Http:       &api.HTTPConfig{Ports: &[]int{80, 8080}},
	}
}

func TestBadInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		c, _ := s.seedCampaign(ctx, t, alice, "target", 20, 7)
		cl := alice.api()

		// bob's proxy: alice may not use it.
		bp, err := bob.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "bob's", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128})
		mustStatus(t, "create bob's proxy", bp, err, 201)
		// alice's proxy, which the bad PATCHes leave as it is: an HTTP
		// proxy with a password longer than a SOCKS5 login carries.
		long := strings.Repeat("é", 128) // 256 bytes
		ap, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "alice's", Protocol: api.ProxyProtocolHttp, Host: "proxy.example", Port: 3128, Password: ptr(long)})
		mustStatus(t, "create alice's proxy", ap, err, 201)

		// The body is sent as valid JSON: only the config is wrong.
		createWith := func(mutate func(b *api.CampaignCreate)) func() (response, error) {
			return func() (response, error) {
				b := validCreate()
				mutate(&b)
				return cl.CreateCampaignWithResponse(ctx, b)
			}
		}
		listWith := func(p api.ListDomainsParams) func() (response, error) {
			return func() (response, error) { return cl.ListDomainsWithResponse(ctx, c.Id, &p) }
		}
		rawGet := func(path string) func() (response, error) {
			return func() (response, error) { return alice.raw(ctx, t, http.MethodGet, path, nil), nil }
		}
		createRaw := func(body string) func() (response, error) {
			return func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader(body))
			}
		}
		proxyWith := func(mutate func(b *api.ProxyCreate)) func() (response, error) {
			return func() (response, error) {
				b := api.ProxyCreate{Name: "p", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: 1080}
				mutate(&b)
				return cl.CreateProxyWithResponse(ctx, b)
			}
		}
		patchProxy := func(u api.ProxyUpdate) func() (response, error) {
			return func() (response, error) { return cl.UpdateProxyWithResponse(ctx, ap.JSON201.Id, u) }
		}
		patchProxyRaw := func(body string) func() (response, error) {
			return func() (response, error) {
				return cl.UpdateProxyWithBodyWithResponse(ctx, ap.JSON201.Id, "application/json", strings.NewReader(body))
			}
		}
		domains := "/api/v1/campaigns/" + c.Id.String() + "/domains"
		b64 := base64.RawURLEncoding.EncodeToString

		cases := []struct {
			name   string
			call   func() (response, error)
			status int
			code   string
			kind   fieldKind
			names  []string // each must be named by an errors[] entry
		}{
			// Query parameters of the domain list.
			{"limit=0", listWith(api.ListDomainsParams{Limit: ptr(0)}), 400, "invalid", byParameter, []string{"limit"}},
			{"limit=1001", listWith(api.ListDomainsParams{Limit: ptr(1001)}), 400, "invalid", byParameter, []string{"limit"}},
			{"limit=-5", listWith(api.ListDomainsParams{Limit: ptr(-5)}), 400, "invalid", byParameter, []string{"limit"}},
			{"limit=abc", rawGet(domains + "?limit=abc"), 400, "invalid", byParameter, []string{"limit"}},
			{"limit=1.5", rawGet(domains + "?limit=1.5"), 400, "invalid", byParameter, []string{"limit"}},
			{"limit=99999999999999999999", rawGet(domains + "?limit=99999999999999999999"), 400, "invalid", byParameter, []string{"limit"}},
			{"offset=-1", listWith(api.ListDomainsParams{Offset: ptr(int64(-1))}), 400, "invalid", byParameter, []string{"offset"}},
			{"offset=abc", rawGet(domains + "?offset=abc"), 400, "invalid", byParameter, []string{"offset"}},
			{"status=bogus", listWith(api.ListDomainsParams{Status: ptr(api.DomainFilterStatus("bogus"))}), 400, "invalid", byParameter, []string{"status"}},
			{"phase=bogus", listWith(api.ListDomainsParams{Phase: ptr(api.DomainFilterPhase("bogus"))}), 400, "invalid", byParameter, []string{"phase"}},
			{"cursor=zzz", listWith(api.ListDomainsParams{Cursor: ptr("zzz")}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor=base64 of hello", listWith(api.ListDomainsParams{Cursor: ptr(b64([]byte("hello")))}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor=base64 of o-5", listWith(api.ListDomainsParams{Cursor: ptr(b64([]byte("o-5")))}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor=base64 of o12x", listWith(api.ListDomainsParams{Cursor: ptr(b64([]byte("o12x")))}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor=not base64", listWith(api.ListDomainsParams{Cursor: ptr("!!not*base64!!")}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor too long", listWith(api.ListDomainsParams{Cursor: ptr(strings.Repeat("b", 201))}), 400, "invalid", byParameter, []string{"cursor"}},
			{"cursor past int64", listWith(api.ListDomainsParams{Cursor: ptr(b64([]byte("o99999999999999999999")))}), 400, "invalid", byParameter, []string{"cursor"}},
			{"offset past int64", rawGet(domains + "?offset=9223372036854775808"), 400, "invalid", byParameter, []string{"offset"}},
			{"q empty", rawGet(domains + "?q="), 400, "invalid", byParameter, []string{"q"}},
			{"q longer than a domain name", listWith(api.ListDomainsParams{Q: ptr(strings.Repeat("a", 254))}), 400, "invalid", byParameter, []string{"q"}},
			{"status given twice", rawGet(domains + "?status=validated&status=failed"), 400, "invalid", byParameter, []string{"status"}},
			{"cursor with offset", listWith(api.ListDomainsParams{Cursor: ptr(b64([]byte("o5"))), Offset: ptr(int64(0))}), 400, "invalid", byParameter, []string{"cursor", "offset"}},
			{"limit=0 on the campaign list", func() (response, error) {
				return cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{Limit: ptr(0)})
			}, 400, "invalid", byParameter, []string{"limit"}},
			{"status=bogus on the campaign list", func() (response, error) {
				return cl.ListCampaignsWithResponse(ctx, &api.ListCampaignsParams{Status: ptr(api.CampaignStatus("bogus"))})
			}, 400, "invalid", byParameter, []string{"status"}},

			// Malformed ids in the path.
			{"campaign id not-a-uuid", rawGet("/api/v1/campaigns/not-a-uuid"), 400, "invalid", byParameter, []string{"campaignId"}},
			{"campaign id with a bad digit", rawGet("/api/v1/campaigns/" + c.Id.String()[:35] + "z"), 400, "invalid", byParameter, []string{"campaignId"}},
			{"campaign id not-a-uuid on domains", rawGet("/api/v1/campaigns/not-a-uuid/domains"), 400, "invalid", byParameter, []string{"campaignId"}},
			{"campaign id not-a-uuid on summary", rawGet("/api/v1/campaigns/12345/domains/status"), 400, "invalid", byParameter, []string{"campaignId"}},
			{"campaign id not-a-uuid on start", func() (response, error) {
				return alice.raw(ctx, t, http.MethodPost, "/api/v1/campaigns/not-a-uuid/start", nil), nil
			}, 400, "invalid", byParameter, []string{"campaignId"}},
			{"proxy id not-a-uuid", rawGet("/api/v1/proxies/not-a-uuid"), 400, "invalid", byParameter, []string{"proxyId"}},

			// Bodies that are not JSON.
			{"truncated JSON body", func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"name":"x","generation":{"pattern_type":"prefix"`))
			}, 400, "invalid", byPointer, []string{""}},
			{"empty JSON body", func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader(``))
			}, 400, "invalid", byPointer, []string{""}},
			{"truncated JSON body on bulk", func() (response, error) {
				return cl.GetBulkEnrichedDataWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"campaign_ids":["`))
			}, 400, "invalid", byPointer, []string{""}},

			{"a body that is not JSON", func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "text/plain", strings.NewReader("name=x"))
			}, 400, "invalid", byParameter, []string{"Content-Type"}},
			{"a JSON array as the body", func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader("[]"))
			}, 400, "invalid", byPointer, []string{""}},
			{"generation null", func() (response, error) {
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"name":"x","generation":null}`))
			}, 400, "invalid", byPointer, []string{"/generation"}},

			// Campaign configurations that cannot work.
			{"missing name", createWith(func(b *api.CampaignCreate) { b.Name = "" }), 400, "invalid", byPointer, []string{"/name"}},
			{"empty character_set", createWith(func(b *api.CampaignCreate) { b.Generation.CharacterSet = "" }), 400, "invalid", byPointer, []string{"/generation/character_set"}},
			{"upper-case character_set", createWith(func(b *api.CampaignCreate) { b.Generation.CharacterSet = "ABC" }), 400, "invalid", byPointer, []string{"/generation/character_set"}},
			{"empty tlds", createWith(func(b *api.CampaignCreate) { b.Generation.Tlds = []string{} }), 400, "invalid", byPointer, []string{"/generation/tlds"}},
			{"tld without a dot", createWith(func(b *api.CampaignCreate) { b.Generation.Tlds = []string{"com"} }), 400, "invalid", byPointer, []string{"/generation/tlds/0"}},
			{"second tld without a dot", createWith(func(b *api.CampaignCreate) { b.Generation.Tlds = []string{".com", "net"} }), 400, "invalid", byPointer, []string{"/generation/tlds/1"}},
			{"max_domains 0", createWith(func(b *api.CampaignCreate) { b.Generation.MaxDomains = 0 }), 400, "invalid", byPointer, []string{"/generation/max_domains"}},
			{"variable_length 0", createWith(func(b *api.CampaignCreate) { b.Generation.VariableLength = 0 }), 400, "invalid", byPointer, []string{"/generation/variable_length"}},
			{"pattern_type bogus", createWith(func(b *api.CampaignCreate) { b.Generation.PatternType = "bogus" }), 400, "invalid", byPointer, []string{"/generation/pattern_type"}},
			{"resolver without a port", createWith(func(b *api.CampaignCreate) {
				b.Dns.Resolvers = &[]string{"127.0.0.1:53", "resolver.example"}
			}), 400, "invalid", byPointer, []string{"/dns/resolvers/1"}},
			{"resolver that is not host:port", createWith(func(b *api.CampaignCreate) { b.Dns.Resolvers = &[]string{"not a resolver"} }), 400, "invalid", byPointer, []string{"/dns/resolvers/0"}},
			{"port 70000", createWith(func(b *api.CampaignCreate) { b.Http.Ports = &[]int{70000} }), 400, "invalid", byPointer, []string{"/http/ports/0"}},
			{"port 0 second", createWith(func(b *api.CampaignCreate) { b.Http.Ports = &[]int{80, 0} }), 400, "invalid", byPointer, []string{"/http/ports/1"}},
			{"pattern overflowing int64", createWith(func(b *api.CampaignCreate) {
				b.Generation.CharacterSet = "abcdefghijklmnopqrstuvwxyz0123456789"
				b.Generation.VariableLength = 13
				b.Generation.ConstantString = ptr("")
				b.Generation.MaxDomains = 100000000
			}), 400, "invalid", byPointer, []string{"/generation/variable_length"}},
			{"two schema errors at once", createWith(func(b *api.CampaignCreate) {
				b.Generation.MaxDomains = 0
				b.Http.Ports = &[]int{70000}
			}), 400, "invalid", byPointer, []string{"/generation/max_domains", "/http/ports/0"}},
			{"two config errors at once", createWith(func(b *api.CampaignCreate) {
				b.Generation.Tlds = []string{"com"}
				b.Dns.Resolvers = &[]string{"resolver.example"}
			}), 400, "invalid", byPointer, []string{"/generation/tlds/0", "/dns/resolvers/0"}},
			{"a schema error and a config error at once", createWith(func(b *api.CampaignCreate) {
				b.Generation.Tlds = []string{"com"}
				b.Http.Ports = &[]int{70000}
			}), 400, "invalid", byPointer, []string{"/generation/tlds/0", "/http/ports/0"}},
			{"another user's proxy", createWith(func(b *api.CampaignCreate) { b.Http.ProxyIds = &[]uuid.UUID{bp.JSON201.Id} }), 422, "unprocessable", byPointer, []string{"/http/proxy_ids/0"}},
			{"a proxy that does not exist", createWith(func(b *api.CampaignCreate) { b.Http.ProxyIds = &[]uuid.UUID{uuid.New()} }), 422, "unprocessable", byPointer, []string{"/http/proxy_ids/0"}},
			{"a proxy id that is not a UUID", func() (response, error) {
				b, _ := json.Marshal(validCreate())
				body := strings.Replace(string(b), `"ports":[80,8080]`, `"ports":[80],"proxy_ids":["nope"]`, 1)
				return cl.CreateCampaignWithBodyWithResponse(ctx, "application/json", strings.NewReader(body))
			}, 400, "invalid", byPointer, []string{"/http/proxy_ids/0"}},

			// Proxy bodies.
			{"proxy port 70000", func() (response, error) {
				return cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "p", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 70000})
			}, 400, "invalid", byPointer, []string{"/port"}},
			{"proxy protocol ftp", func() (response, error) {
				return cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "p", Protocol: "ftp", Host: "127.0.0.1", Port: 21})
			}, 400, "invalid", byPointer, []string{"/protocol"}},

			// NUL (U+0000) in any string: PostgreSQL cannot store it and
			// SQLite's LIKE stops at it, so it never reaches either.
			{"q=%00", rawGet(domains + "?q=%00"), 400, "invalid", byParameter, []string{"q"}},
			{"q with NUL inside", rawGet(domains + "?q=ab%00c"), 400, "invalid", byParameter, []string{"q"}},
			{"cursor with NUL", rawGet(domains + "?cursor=%00"), 400, "invalid", byParameter, []string{"cursor"}},
			{"q not UTF-8", rawGet(domains + "?q=%ff"), 400, "invalid", byParameter, []string{"q"}},
			{"campaign name with NUL", createWith(func(b *api.CampaignCreate) { b.Name = "a\x00b" }), 400, "invalid", byPointer, []string{"/name"}},
			{"campaign description with NUL", createWith(func(b *api.CampaignCreate) { b.Description = ptr("\x00") }), 400, "invalid", byPointer, []string{"/description"}},
			{"keyword with NUL", createWith(func(b *api.CampaignCreate) { b.Http.Keywords = &[]string{"ok", "a\x00"} }), 400, "invalid", byPointer, []string{"/http/keywords/1"}},
			{"user_agent with NUL", createWith(func(b *api.CampaignCreate) { b.Http.UserAgent = ptr("ua\x00") }), 400, "invalid", byPointer, []string{"/http/user_agent"}},
			{"NUL in a member's name", createRaw(`{"name":"x","generation":{"pattern_type":"prefix","character_set":"ab","variable_length":1,"tlds":[".com"],"max_domains":1},"a\u0000":1}`),
				400, "invalid", byPointer, []string{"/a\x00"}},
			{"body not UTF-8", createRaw("{\"name\":\"\xff\",\"generation\":{\"pattern_type\":\"prefix\",\"character_set\":\"ab\",\"variable_length\":1,\"tlds\":[\".com\"],\"max_domains\":1}}"),
				400, "invalid", byPointer, []string{""}},
			{"proxy name with NUL", proxyWith(func(b *api.ProxyCreate) { b.Name = "p\x00" }), 400, "invalid", byPointer, []string{"/name"}},
			{"proxy host with NUL", proxyWith(func(b *api.ProxyCreate) { b.Host = "127.0.0.1\x00" }), 400, "invalid", byPointer, []string{"/host"}},
			{"proxy username with NUL", proxyWith(func(b *api.ProxyCreate) { b.Username = ptr("u\x00") }), 400, "invalid", byPointer, []string{"/username"}},
			{"proxy password with NUL", proxyWith(func(b *api.ProxyCreate) { b.Password = ptr("\x00") }), 400, "invalid", byPointer, []string{"/password"}},
			{"PATCH a proxy's name with NUL", patchProxy(api.ProxyUpdate{Name: ptr("\x00")}), 400, "invalid", byPointer, []string{"/name"}},
			{"PATCH a proxy's password with NUL", patchProxy(api.ProxyUpdate{Password: ptr("a\x00")}), 400, "invalid", byPointer, []string{"/password"}},

			// Configurations whose checks would outlast what the engine
			// allows one check (90 s), refused at create, not at run time.
			{"http timeout_ms 120000", createWith(func(b *api.CampaignCreate) { b.Http.TimeoutMs = ptr(120000) }), 400, "invalid", byPointer, []string{"/http/timeout_ms"}},
			{"http timeout_ms × ports over 90 s", createWith(func(b *api.CampaignCreate) { b.Http.TimeoutMs = ptr(60000) }), 400, "invalid", byPointer, []string{"/http/timeout_ms", "/http/ports"}},
			{"dns timeout_ms 60000", createWith(func(b *api.CampaignCreate) { b.Dns.TimeoutMs = ptr(60000) }), 400, "invalid", byPointer, []string{"/dns/timeout_ms"}},
			{"dns timeout_ms × tries over 90 s", createWith(func(b *api.CampaignCreate) {
				b.Dns.TimeoutMs, b.Dns.Retries, b.Dns.MaxAttempts = ptr(30000), ptr(10), ptr(11)
			}), 400, "invalid", byPointer, []string{"/dns/timeout_ms", "/dns/retries"}},
			{"dns rate limit too slow for the concurrency", createWith(func(b *api.CampaignCreate) {
				b.Dns.RateLimitQps, b.Dns.Concurrency = ptr(1), ptr(100)
			}), 400, "invalid", byPointer, []string{"/dns/rate_limit_qps", "/dns/concurrency"}},

			// Resolvers and headers that cannot work.
			{"resolver 999.1.1.1:53", createWith(func(b *api.CampaignCreate) { b.Dns.Resolvers = &[]string{"999.1.1.1:53"} }), 400, "invalid", byPointer, []string{"/dns/resolvers/0"}},
			{"resolver a b:53", createWith(func(b *api.CampaignCreate) { b.Dns.Resolvers = &[]string{"1.1.1.1:53", "a b:53"} }), 400, "invalid", byPointer, []string{"/dns/resolvers/1"}},
			{"resolver twice", createWith(func(b *api.CampaignCreate) { b.Dns.Resolvers = &[]string{"1.1.1.1:53", "1.1.1.1:53"} }), 400, "invalid", byPointer, []string{"/dns/resolvers/1"}},
			{"port twice", createWith(func(b *api.CampaignCreate) { b.Http.Ports = &[]int{80, 8080, 80} }), 400, "invalid", byPointer, []string{"/http/ports/2"}},
			{"user_agent with CR LF", createWith(func(b *api.CampaignCreate) { b.Http.UserAgent = ptr("ua\r\nX-Evil: 1") }), 400, "invalid", byPointer, []string{"/http/user_agent"}},
			{"campaign name of spaces", createWith(func(b *api.CampaignCreate) { b.Name = "   " }), 400, "invalid", byPointer, []string{"/name"}},

			// Patterns that would make names DNS cannot hold.
			{"hyphen in character_set", createWith(func(b *api.CampaignCreate) { b.Generation.CharacterSet = "ab-" }), 400, "invalid", byPointer, []string{"/generation/character_set"}},
			{"prefix constant ending with a hyphen", createWith(func(b *api.CampaignCreate) {
				b.Generation.PatternType, b.Generation.ConstantString = api.Prefix, ptr("shop-")
			}), 400, "invalid", byPointer, []string{"/generation/constant_string"}},
			{"suffix constant starting with a hyphen", createWith(func(b *api.CampaignCreate) {
				b.Generation.PatternType, b.Generation.ConstantString = api.Suffix, ptr("-shop")
			}), 400, "invalid", byPointer, []string{"/generation/constant_string"}},
			{"label of 64 characters", createWith(func(b *api.CampaignCreate) {
				b.Generation.CharacterSet, b.Generation.VariableLength, b.Generation.ConstantString = "a", 60, ptr("shop")
			}), 400, "invalid", byPointer, []string{"/generation/variable_length"}},
			{"all-numeric tld", createWith(func(b *api.CampaignCreate) { b.Generation.Tlds = []string{".com", ".123"} }), 400, "invalid", byPointer, []string{"/generation/tlds/1"}},

			// Proxies that cannot work.
			{"proxy host of a space", proxyWith(func(b *api.ProxyCreate) { b.Host = " " }), 400, "invalid", byPointer, []string{"/host"}},
			{"proxy host a b", proxyWith(func(b *api.ProxyCreate) { b.Host = "a b" }), 400, "invalid", byPointer, []string{"/host"}},
			{"proxy host a URL", proxyWith(func(b *api.ProxyCreate) { b.Host = "http://x/y" }), 400, "invalid", byPointer, []string{"/host"}},
			{"proxy host with a port", proxyWith(func(b *api.ProxyCreate) { b.Host = "127.0.0.1:80" }), 400, "invalid", byPointer, []string{"/host"}},
			{"proxy host a bad IP and port 0", proxyWith(func(b *api.ProxyCreate) { b.Host, b.Port = "999.1.1.1", 0 }), 400, "invalid", byPointer, []string{"/host", "/port"}},
			{"proxy name of spaces", proxyWith(func(b *api.ProxyCreate) { b.Name = "  " }), 400, "invalid", byPointer, []string{"/name"}},
			{"SOCKS5 password over 255 bytes", proxyWith(func(b *api.ProxyCreate) { b.Password = ptr(long) }), 400, "invalid", byPointer, []string{"/password"}},
			{"SOCKS5 username over 255 bytes", proxyWith(func(b *api.ProxyCreate) { b.Username = ptr(long) }), 400, "invalid", byPointer, []string{"/username"}},
			{"PATCH with only an unknown member", patchProxyRaw(`{"bogus":1}`), 400, "invalid", byPointer, []string{"/bogus"}},
			{"PATCH with a misspelt member", patchProxyRaw(`{"name":"renamed","enabeld":false}`), 400, "invalid", byPointer, []string{"/enabeld"}},
			{"PATCH a host with a port", patchProxy(api.ProxyUpdate{Host: ptr("proxy.example:3128")}), 400, "invalid", byPointer, []string{"/host"}},
			{"PATCH a name of spaces", patchProxy(api.ProxyUpdate{Name: ptr(" ")}), 400, "invalid", byPointer, []string{"/name"}},
			{"PATCH to SOCKS5 with a password over 255 bytes", patchProxy(api.ProxyUpdate{Protocol: ptr(api.ProxyProtocolSocks5)}), 400, "invalid", byPointer, []string{"/password"}},
		}

		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r, err := tc.call()
				p := checkProblem(t, tc.name, r, err, tc.status, tc.code)
				checkNames(t, tc.name, p, tc.kind, tc.names...)
			})
		}

		// Requests outside the routes are problems too, never 500s.
		for _, rq := range []struct {
			name, method, path string
			body               string
			status             int
		}{
			{"an unknown route", http.MethodGet, "/api/v1/nope", "", 404},
			{"a method the route does not have", http.MethodPut, "/api/v1/campaigns", "", 405},
			{"a body over the size limit", http.MethodPost, "/api/v1/campaigns", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		} {
			var body *strings.Reader
			if rq.body != "" {
				body = strings.NewReader(rq.body)
			}
			var r rawResponse
			if body != nil {
				r = alice.raw(ctx, t, rq.method, rq.path, body)
			} else {
				r = alice.raw(ctx, t, rq.method, rq.path, nil)
			}
			if checkStatus(t, rq.name, r, nil, rq.status) && mediaType(r.ContentType()) != "application/problem+json" {
				t.Errorf("%s: Content-Type %q, want application/problem+json", rq.name, r.ContentType())
			}
		}

		// None of the refused creates left a campaign or a proxy behind,
		// and the refused PATCHes changed nothing.
		list, err := cl.ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "list campaigns", list, err, 200)
		if list.JSON200.Total != 1 {
			t.Errorf("alice has %d campaigns after refused creates, want 1", list.JSON200.Total)
		}
		proxies, err := cl.ListProxiesWithResponse(ctx)
		mustStatus(t, "list proxies", proxies, err, 200)
		if len(proxies.JSON200.Items) != 1 || !sameProxy(proxies.JSON200.Items[0], *ap.JSON201) {
			t.Errorf("alice's proxies after refused creates and PATCHes: %s; want only %s", proxies.Body, ap.Body)
		}
	})
}

// problemSansInstance decodes a problem body without its instance, which
// names the request's own path.
func problemSansInstance(t *testing.T, what string, body []byte) map[string]any {
	t.Helper()
	m := jsonObject(t, what, body)
	delete(m, "instance")
	return m
}

func TestOtherUsersResourcesAreNotFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		owner := s.newUser(t, "owner")
		intruder := s.newUser(t, "intruder")
		c, rows := s.seedCampaign(ctx, t, owner, "private", 40, 8)
		pr, err := owner.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "private proxy", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: 1080, Username: ptr("u"), Password: ptr("p")})
		mustStatus(t, "create owner's proxy", pr, err, 201)
		proxy := *pr.JSON201
		in := intruder.api()

		routes := []struct {
			name string
			call func(id uuid.UUID) (response, error)
		}{
			{"GET campaign", func(id uuid.UUID) (response, error) { return in.GetCampaignWithResponse(ctx, id, nil) }},
			{"DELETE campaign", func(id uuid.UUID) (response, error) { return in.DeleteCampaignWithResponse(ctx, id) }},
			{"start", func(id uuid.UUID) (response, error) { return in.StartCampaignWithResponse(ctx, id) }},
			{"pause", func(id uuid.UUID) (response, error) { return in.PauseCampaignWithResponse(ctx, id) }},
			{"resume", func(id uuid.UUID) (response, error) { return in.ResumeCampaignWithResponse(ctx, id) }},
			{"cancel", func(id uuid.UUID) (response, error) { return in.CancelCampaignWithResponse(ctx, id) }},
			{"domains", func(id uuid.UUID) (response, error) { return in.ListDomainsWithResponse(ctx, id, nil) }},
			{"domains with filters", func(id uuid.UUID) (response, error) {
				return in.ListDomainsWithResponse(ctx, id, &api.ListDomainsParams{Status: ptr(api.DomainFilterStatusFailed), Q: ptr("a")})
			}},
			{"domains/status", func(id uuid.UUID) (response, error) { return in.GetDomainStatusSummaryWithResponse(ctx, id, nil) }},
			{"resolvers", func(id uuid.UUID) (response, error) { return in.ListCampaignResolversWithResponse(ctx, id) }},
			{"GET proxy", func(id uuid.UUID) (response, error) { return in.GetProxyWithResponse(ctx, id) }},
			{"PATCH proxy", func(id uuid.UUID) (response, error) {
				return in.UpdateProxyWithResponse(ctx, id, api.ProxyUpdate{Name: ptr("stolen"), Enabled: ptr(false)})
			}},
			{"DELETE proxy", func(id uuid.UUID) (response, error) { return in.DeleteProxyWithResponse(ctx, id) }},
			{"test proxy", func(id uuid.UUID) (response, error) { return in.TestProxyWithResponse(ctx, id) }},
		}
		for _, rt := range routes {
			t.Run(rt.name, func(t *testing.T) {
				theirs := c.Id
				if strings.Contains(rt.name, "proxy") {
					theirs = proxy.Id
				}
				r, err := rt.call(theirs)
				p := checkProblem(t, rt.name+" of another user", r, err, 404, "not_found")
				missing, err2 := rt.call(uuid.New())
				pm := checkProblem(t, rt.name+" of a random id", missing, err2, 404, "not_found")
				if p == nil || pm == nil {
					return
				}
				a := problemSansInstance(t, "another user's", r.GetBody())
				b := problemSansInstance(t, "random id", missing.GetBody())
				if !reflect.DeepEqual(a, b) {
					t.Errorf("another user's resource answers\n  %s\nbut a missing one\n  %s\n(they must not be told apart)", r.GetBody(), missing.GetBody())
				}
				if strings.Contains(string(r.GetBody()), owner.Name) || strings.Contains(string(r.GetBody()), "private") {
					t.Errorf("404 body leaks the owner's data: %s", r.GetBody())
				}
			})
		}

		// The owner's campaign and proxy are as they were; the owner is not
		// refused (lifecycle calls may be refused, but never as not found).
		ow := owner.api()
		gc, err := ow.GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "owner gets the campaign", gc, err, 200)
		sum, err := ow.GetDomainStatusSummaryWithResponse(ctx, c.Id, nil)
		mustStatus(t, "owner gets the summary", sum, err, 200)
		if sum.JSON200.Generated != int64(len(rows)) {
			t.Errorf("owner's campaign has %d domains after the intruder's calls, want %d", sum.JSON200.Generated, len(rows))
		}
		gp, err := ow.GetProxyWithResponse(ctx, proxy.Id)
		mustStatus(t, "owner gets the proxy", gp, err, 200)
		if gp.JSON200.Name != proxy.Name || gp.JSON200.Enabled != proxy.Enabled || gp.JSON200.Health != api.Unknown {
			t.Errorf("owner's proxy changed by the intruder's calls: %s", gp.Body)
		}
		for name, call := range map[string]func() (response, error){
			"start":  func() (response, error) { return ow.StartCampaignWithResponse(ctx, c.Id) },
			"pause":  func() (response, error) { return ow.PauseCampaignWithResponse(ctx, c.Id) },
			"resume": func() (response, error) { return ow.ResumeCampaignWithResponse(ctx, c.Id) },
			"cancel": func() (response, error) { return ow.CancelCampaignWithResponse(ctx, c.Id) },
		} {
			r, err := call()
			if err != nil {
				t.Errorf("owner %s: %v", name, err)
			} else if r.StatusCode() == 404 || r.StatusCode() >= 500 {
				t.Errorf("owner %s of the owner's campaign: status %d: %s", name, r.StatusCode(), r.GetBody())
			}
		}

		// The intruder's lists do not show them either.
		lc, err := in.ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "intruder lists campaigns", lc, err, 200)
		if lc.JSON200.Total != 0 || len(lc.JSON200.Items) != 0 {
			t.Errorf("intruder sees %d campaigns: %s", lc.JSON200.Total, lc.Body)
		}
		lp, err := in.ListProxiesWithResponse(ctx)
		mustStatus(t, "intruder lists proxies", lp, err, 200)
		if len(lp.JSON200.Items) != 0 {
			t.Errorf("intruder sees proxies: %s", lp.Body)
		}
	})
}
