package domainflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

func validConfig() domainflow.CampaignConfig {
	return domainflow.CampaignConfig{
		Generation: domainflow.GenerationConfig{PatternType: "prefix", ConstantString: "shop", CharacterSet: "abc",
			VariableLength: 3, TLDs: []string{".com", ".co.uk"}, MaxDomains: 10},
		DNS: domainflow.DefaultDNSConfig(), HTTP: domainflow.DefaultHTTPConfig(), Analysis: domainflow.DefaultAnalysisConfig(),
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	id := uuid.New()
	tests := []struct {
		name    string
		mutate  func(c *domainflow.CampaignConfig)
		pointer string // "" means valid
	}{
		{"valid", func(*domainflow.CampaignConfig) {}, ""},
		{"pattern", func(c *domainflow.CampaignConfig) { c.Generation.PatternType = "middle" }, "/generation/pattern_type"},
		{"empty charset", func(c *domainflow.CampaignConfig) { c.Generation.CharacterSet = "" }, "/generation/character_set"},
		{"upper charset", func(c *domainflow.CampaignConfig) { c.Generation.CharacterSet = "aB" }, "/generation/character_set"},
		{"constant", func(c *domainflow.CampaignConfig) { c.Generation.ConstantString = "a.b" }, "/generation/constant_string"},
		{"length 0", func(c *domainflow.CampaignConfig) { c.Generation.VariableLength = 0 }, "/generation/variable_length"},
		{"label too long", func(c *domainflow.CampaignConfig) {
			c.Generation.PatternType, c.Generation.VariableLength = "both", 30
		}, "/generation/variable_length"},
		{"no tlds", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = nil }, "/generation/tlds"},
		{"tld without dot", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".com", "net"} }, "/generation/tlds/1"},
		{"tld bad chars", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".c_m"} }, "/generation/tlds/0"},
		{"tld twice", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".com", ".com"} }, "/generation/tlds/1"},
		{"max 0", func(c *domainflow.CampaignConfig) { c.Generation.MaxDomains = 0 }, "/generation/max_domains"},
		{"resolver no port", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"127.0.0.1"} }, "/dns/resolvers/0"},
		{"resolver port range", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"1.1.1.1:53", "h:0"} }, "/dns/resolvers/1"},
		{"resolver ipv6 ok", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"[::1]:5353"} }, ""},
		{"dns timeout", func(c *domainflow.CampaignConfig) { c.DNS.TimeoutMS = 0 }, "/dns/timeout_ms"},
		{"port range", func(c *domainflow.CampaignConfig) { c.HTTP.Ports = []int{80, 70000} }, "/http/ports/1"},
		{"no ports", func(c *domainflow.CampaignConfig) { c.HTTP.Ports = nil }, "/http/ports"},
		{"scheme", func(c *domainflow.CampaignConfig) { c.HTTP.Scheme = "ftp" }, "/http/scheme"},
		{"bad regex", func(c *domainflow.CampaignConfig) {
			c.HTTP.KeywordMode, c.HTTP.Keywords = "regex", []string{"ok", "(unclosed"}
		}, "/http/keywords/1"},
		{"blank keyword", func(c *domainflow.CampaignConfig) { c.HTTP.Keywords = []string{" "} }, "/http/keywords/0"},
		{"proxy twice", func(c *domainflow.CampaignConfig) { c.HTTP.ProxyIDs = []uuid.UUID{id, id} }, "/http/proxy_ids/1"},
		{"lead score", func(c *domainflow.CampaignConfig) { c.Analysis.MinLeadScore = 101 }, "/analysis/min_lead_score"},

		// Names that cannot exist in DNS are never generated.
		{"hyphen in charset", func(c *domainflow.CampaignConfig) { c.Generation.CharacterSet = "ab-" }, "/generation/character_set"},
		{"hyphen in charset, both", func(c *domainflow.CampaignConfig) {
			c.Generation.PatternType, c.Generation.CharacterSet = "both", "-a"
		}, "/generation/character_set"},
		{"prefix constant ending the label with a hyphen", func(c *domainflow.CampaignConfig) { c.Generation.ConstantString = "shop-" }, "/generation/constant_string"},
		{"prefix constant starting with a hyphen", func(c *domainflow.CampaignConfig) { c.Generation.ConstantString = "-shop" }, ""},
		{"suffix constant starting the label with a hyphen", func(c *domainflow.CampaignConfig) {
			c.Generation.PatternType, c.Generation.ConstantString = "suffix", "-shop"
		}, "/generation/constant_string"},
		{"suffix constant ending with a hyphen", func(c *domainflow.CampaignConfig) {
			c.Generation.PatternType, c.Generation.ConstantString = "suffix", "shop-"
		}, ""},
		{"both constant with hyphens at its ends", func(c *domainflow.CampaignConfig) {
			c.Generation.PatternType, c.Generation.ConstantString = "both", "-x-"
		}, ""},
		{"label of 64", func(c *domainflow.CampaignConfig) { c.Generation.VariableLength = 60 }, "/generation/variable_length"},
		{"label of 63", func(c *domainflow.CampaignConfig) { c.Generation.VariableLength = 59 }, ""},
		{"all-numeric tld", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".com", ".123"} }, "/generation/tlds/1"},
		{"all-numeric last label", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".co.123"} }, "/generation/tlds/0"},
		{"numeric inner label", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{".123.com"} }, ""},
		{"tld label of 64", func(c *domainflow.CampaignConfig) { c.Generation.TLDs = []string{"." + strings.Repeat("a", 64)} }, "/generation/tlds/0"},
		{"name over 253", func(c *domainflow.CampaignConfig) {
			c.Generation.VariableLength = 59 // a label of 63
			c.Generation.TLDs = []string{"." + strings.Repeat(strings.Repeat("a", 63)+".", 3)[:190]}
		}, "/generation/tlds/0"},
		{"name of 253", func(c *domainflow.CampaignConfig) {
			c.Generation.VariableLength = 59
			c.Generation.TLDs = []string{"." + strings.Repeat(strings.Repeat("a", 63)+".", 3)[:189]}
		}, ""},

		// Resolvers.
		{"resolver not an IP", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"999.1.1.1:53"} }, "/dns/resolvers/0"},
		{"resolver with a space", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"a b:53"} }, "/dns/resolvers/0"},
		{"resolver with a leading hyphen", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"-dns.example:53"} }, "/dns/resolvers/0"},
		{"resolver host name ok", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"dns.google:53", "1.1.1.1:53"} }, ""},
		{"resolver twice", func(c *domainflow.CampaignConfig) {
			c.DNS.Resolvers = []string{"1.1.1.1:53", "8.8.8.8:53", "1.1.1.1:53"}
		}, "/dns/resolvers/2"},
		{"resolver twice, spelt two ways", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"[::1]:53", "[0:0::1]:053"} }, "/dns/resolvers/1"},
		{"resolver host twice, by case", func(c *domainflow.CampaignConfig) { c.DNS.Resolvers = []string{"DNS.example:53", "dns.example.:53"} }, "/dns/resolvers/1"},

		// HTTP.
		{"port twice", func(c *domainflow.CampaignConfig) { c.HTTP.Ports = []int{80, 443, 80} }, "/http/ports/2"},
		{"user agent with CR LF", func(c *domainflow.CampaignConfig) { c.HTTP.UserAgent = "x\r\nX-Injected: 1" }, "/http/user_agent"},
		{"user agent with LF", func(c *domainflow.CampaignConfig) { c.HTTP.UserAgent = "x\ny" }, "/http/user_agent"},
		{"user agent with a tab", func(c *domainflow.CampaignConfig) { c.HTTP.UserAgent = "x\ty" }, ""},

		// A check that would outlast what the engine allows.
		{"http timeout at most", func(c *domainflow.CampaignConfig) { c.HTTP.TimeoutMS = 90_000 }, ""},
		{"http timeout × ports", func(c *domainflow.CampaignConfig) { c.HTTP.TimeoutMS, c.HTTP.Ports = 45_001, []int{80, 443} }, "/http/timeout_ms"},
		{"http ports × timeout", func(c *domainflow.CampaignConfig) {
			c.HTTP.TimeoutMS, c.HTTP.Ports = 10_000, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		}, "/http/ports"},
		{"dns timeout × tries", func(c *domainflow.CampaignConfig) { c.DNS.TimeoutMS, c.DNS.Retries = 30_000, 2 }, "/dns/timeout_ms"},
		{"dns tries × timeout", func(c *domainflow.CampaignConfig) { c.DNS.TimeoutMS, c.DNS.Retries, c.DNS.MaxAttempts = 10_000, 10, 11 }, "/dns/retries"},
		{"dns just in time", func(c *domainflow.CampaignConfig) { c.DNS.TimeoutMS, c.DNS.Retries = 30_000, 1 }, ""},
		{"dns rate limit wait", func(c *domainflow.CampaignConfig) { c.DNS.RateLimitQPS, c.DNS.Concurrency = 1, 50 }, "/dns/rate_limit_qps"},
		{"dns rate limit wait by concurrency", func(c *domainflow.CampaignConfig) { c.DNS.RateLimitQPS, c.DNS.Concurrency = 1, 50 }, "/dns/concurrency"},
		{"dns rate limit fine", func(c *domainflow.CampaignConfig) { c.DNS.RateLimitQPS, c.DNS.Concurrency = 10, 50 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.pointer == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			e, ok := err.(*domainflow.Error)
			if !ok || e.Code != domainflow.EINVALID {
				t.Fatalf("Validate() = %v; want an invalid *Error", err)
			}
			for _, f := range e.Fields {
				if f.Pointer == tt.pointer {
					return
				}
			}
			t.Fatalf("errors %+v do not name %s", e.Fields, tt.pointer)
		})
	}
}

func TestNormalizeRemovesRepeatedCharacters(t *testing.T) {
	c := validConfig()
	c.Generation.CharacterSet = "abcabca-"
	c.Normalize()
	if c.Generation.CharacterSet != "abc-" {
		t.Fatalf("character set = %q; want abc-", c.Generation.CharacterSet)
	}
}

func TestCountsMatching(t *testing.T) {
	c := domainflow.Counts{Generated: 100, Validated: 30, Failed: 50, DNSOK: 40, DNSFailed: 50,
		HTTPOK: 25, HTTPFailed: 5, HTTPSkipped: 50, LeadMatch: 20, LeadNoMatch: 60}
	tests := []struct {
		status, phase string
		want          int64
	}{
		{"", "", 100}, {"generated", "", 100}, {"validated", "", 30}, {"failed", "", 50},
		{"generated", "dns", 10}, {"validated", "dns", 40}, {"failed", "dns", 50},
		{"generated", "http", 20}, {"validated", "http", 25}, {"failed", "http", 5},
		{"generated", "analysis", 20}, {"validated", "analysis", 20}, {"failed", "analysis", 60},
		{"", "dns", 100},
	}
	for _, tt := range tests {
		if got := c.Matching(domainflow.DomainFilter{Status: tt.status, Phase: tt.phase}); got != tt.want {
			t.Errorf("Matching(%q, %q) = %d; want %d", tt.status, tt.phase, got, tt.want)
		}
	}
}

// Every configuration Validate accepts has checks the engine can run: none
// takes longer than MaxCheckTime, at the limits of every setting.
func TestValidConfigsHaveChecksTheEngineCanRun(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(c *domainflow.CampaignConfig)
	}{
		{"defaults", func(*domainflow.CampaignConfig) {}},
		{"longest http", func(c *domainflow.CampaignConfig) { c.HTTP.TimeoutMS = 90_000 }},
		{"longest dns", func(c *domainflow.CampaignConfig) { c.DNS.TimeoutMS, c.DNS.Retries = 30_000, 1 }},
		{"slowest rate limit", func(c *domainflow.CampaignConfig) { c.DNS.RateLimitQPS, c.DNS.Concurrency, c.DNS.Retries = 1, 40, 1 }},
	} {
		c := validConfig()
		tt.mutate(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v", tt.name, err)
			continue
		}
		for _, phase := range []domainflow.Phase{domainflow.PhaseDNS, domainflow.PhaseHTTP, domainflow.PhaseAnalysis} {
			if d := c.LongestCheck(phase); d > domainflow.MaxCheckTime || d <= 0 {
				t.Errorf("%s: LongestCheck(%s) = %s; want in (0, %s]", tt.name, phase, d, domainflow.MaxCheckTime)
			}
		}
	}
	if got := (&domainflow.CampaignConfig{DNS: domainflow.DNSConfig{TimeoutMS: 1000, Retries: 1, Concurrency: 10, RateLimitQPS: 5}}).LongestCheck(domainflow.PhaseDNS); got != 3*time.Second+4*time.Second {
		t.Errorf("LongestCheck(dns) = %s; want 7s: 3 timeouts and 10 × 2 queries at 5 a second", got)
	}
}

func TestNewCampaignValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       domainflow.NewCampaign
		pointer []string
	}{
		{"valid", domainflow.NewCampaign{Name: "x", Config: validConfig()}, nil},
		{"blank name", domainflow.NewCampaign{Name: " \t ", Config: validConfig()}, []string{"/name"}},
		{"blank name and a bad config", func() domainflow.NewCampaign {
			n := domainflow.NewCampaign{Name: "  ", Config: validConfig()}
			n.Config.HTTP.Ports = []int{80, 80}
			return n
		}(), []string{"/name", "/http/ports/1"}},
	} {
		checkFields(t, tt.name, tt.n.Validate(), tt.pointer...)
	}
}

func TestProxyValidate(t *testing.T) {
	valid := func() domainflow.Proxy {
		return domainflow.Proxy{Name: "p", Protocol: "socks5", Host: "proxy.example", Port: 1080}
	}
	long := strings.Repeat("é", 128) // 256 bytes, 128 characters
	for _, tt := range []struct {
		name    string
		mutate  func(p *domainflow.Proxy)
		pointer []string
	}{
		{"valid", func(*domainflow.Proxy) {}, nil},
		{"ipv4", func(p *domainflow.Proxy) { p.Host = "127.0.0.1" }, nil},
		{"ipv6", func(p *domainflow.Proxy) { p.Host = "::1" }, nil},
		{"underscore", func(p *domainflow.Proxy) { p.Host = "squid_1.internal" }, nil},
		{"final dot", func(p *domainflow.Proxy) { p.Host = "proxy.example." }, nil},
		{"blank name", func(p *domainflow.Proxy) { p.Name = "   " }, []string{"/name"}},
		{"blank host", func(p *domainflow.Proxy) { p.Host = " " }, []string{"/host"}},
		{"host with a space", func(p *domainflow.Proxy) { p.Host = "a b" }, []string{"/host"}},
		{"URL as host", func(p *domainflow.Proxy) { p.Host = "http://x/y" }, []string{"/host"}},
		{"host with a port", func(p *domainflow.Proxy) { p.Host = "127.0.0.1:80" }, []string{"/host"}},
		{"ipv6 in brackets", func(p *domainflow.Proxy) { p.Host = "[::1]" }, []string{"/host"}},
		{"not an IP", func(p *domainflow.Proxy) { p.Host = "999.1.1.1" }, []string{"/host"}},
		{"empty label", func(p *domainflow.Proxy) { p.Host = "a..b" }, []string{"/host"}},
		{"leading hyphen", func(p *domainflow.Proxy) { p.Host = "-a.example" }, []string{"/host"}},
		{"label of 64", func(p *domainflow.Proxy) { p.Host = strings.Repeat("a", 64) + ".example" }, []string{"/host"}},
		{"port 0", func(p *domainflow.Proxy) { p.Port = 0 }, []string{"/port"}},
		{"protocol", func(p *domainflow.Proxy) { p.Protocol = "ftp" }, []string{"/protocol"}},
		{"socks5 username of 256 bytes", func(p *domainflow.Proxy) { p.Username = long }, []string{"/username"}},
		{"socks5 password of 256 bytes", func(p *domainflow.Proxy) { p.Password = long }, []string{"/password"}},
		{"socks5 credentials of 255 bytes", func(p *domainflow.Proxy) { p.Username, p.Password = strings.Repeat("u", 255), strings.Repeat("p", 255) }, nil},
		{"http password of 256 bytes", func(p *domainflow.Proxy) { p.Protocol, p.Password = "http", long }, nil},
	} {
		p := valid()
		tt.mutate(&p)
		checkFields(t, tt.name, p.Validate(), tt.pointer...)
	}
}

// checkFields checks that err is nil when no pointers are given, and
// otherwise an EINVALID *Error naming each of them.
func checkFields(t *testing.T, what string, err error, pointers ...string) {
	t.Helper()
	if len(pointers) == 0 {
		if err != nil {
			t.Errorf("%s: %v; want nil", what, err)
		}
		return
	}
	e, ok := err.(*domainflow.Error)
	if !ok || e.Code != domainflow.EINVALID {
		t.Errorf("%s: %v; want an invalid *Error", what, err)
		return
	}
	for _, p := range pointers {
		found := false
		for _, f := range e.Fields {
			found = found || f.Pointer == p && f.Detail != ""
		}
		if !found {
			t.Errorf("%s: errors %+v do not name %s", what, e.Fields, p)
		}
	}
}
