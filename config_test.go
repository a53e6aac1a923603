package domainflow_test

import (
	"testing"

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
