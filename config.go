package domainflow

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// CampaignConfig is a campaign's whole configuration, stored as one JSON
// document, with every default filled in.
type CampaignConfig struct {
	Generation GenerationConfig `json:"generation"`
	DNS        DNSConfig        `json:"dns"`
	HTTP       HTTPConfig       `json:"http"`
	Analysis   AnalysisConfig   `json:"analysis"`
}

// Pattern types.
const (
	PatternPrefix = "prefix" // [VAR][CONST][TLD]
	PatternSuffix = "suffix" // [CONST][VAR][TLD]
	PatternBoth   = "both"   // [VAR][CONST][VAR][TLD]
)

// GenerationConfig says which names a campaign generates.
type GenerationConfig struct {
	PatternType    string   `json:"pattern_type"`
	ConstantString string   `json:"constant_string"`
	CharacterSet   string   `json:"character_set"`
	VariableLength int      `json:"variable_length"`
	TLDs           []string `json:"tlds"`
	MaxDomains     int64    `json:"max_domains"`
}

// DNSConfig says how names are resolved.
type DNSConfig struct {
	Resolvers    []string `json:"resolvers"`
	TimeoutMS    int      `json:"timeout_ms"`
	Retries      int      `json:"retries"`
	Concurrency  int      `json:"concurrency"`
	RateLimitQPS int      `json:"rate_limit_qps"`
}

// HTTPConfig says how resolved names are fetched.
type HTTPConfig struct {
	Keywords        []string    `json:"keywords"`
	KeywordMode     string      `json:"keyword_mode"`
	Ports           []int       `json:"ports"`
	Scheme          string      `json:"scheme"`
	TimeoutMS       int         `json:"timeout_ms"`
	Concurrency     int         `json:"concurrency"`
	FollowRedirects bool        `json:"follow_redirects"`
	MaxRedirects    int         `json:"max_redirects"`
	MaxBodyBytes    int64       `json:"max_body_bytes"`
	UserAgent       string      `json:"user_agent"`
	ProxyIDs        []uuid.UUID `json:"proxy_ids"`
}

// AnalysisConfig says what counts as a lead.
type AnalysisConfig struct {
	MinLeadScore int `json:"min_lead_score"`
}

// Defaults of the optional parts of a configuration. openapi.yaml declares the
// same values; a test keeps the two in step.
func DefaultDNSConfig() DNSConfig {
	return DNSConfig{Resolvers: []string{}, TimeoutMS: 2000, Retries: 1, Concurrency: 50, RateLimitQPS: 0}
}

func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		Keywords: []string{}, KeywordMode: "plain", Ports: []int{80}, Scheme: "http",
		TimeoutMS: 5000, Concurrency: 20, FollowRedirects: true, MaxRedirects: 5,
		MaxBodyBytes: 1 << 20, UserAgent: "DomainFlow/1.0", ProxyIDs: []uuid.UUID{},
	}
}

func DefaultAnalysisConfig() AnalysisConfig { return AnalysisConfig{MinLeadScore: 40} }

var (
	labelChars = regexp.MustCompile(`^[a-z0-9-]*$`)
	tldPattern = regexp.MustCompile(`^\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// Normalize removes repeated characters from the character set (keeping the
// first of each), which is the one change the brief allows to a config.
func (c *CampaignConfig) Normalize() {
	var b strings.Builder
	seen := map[rune]bool{}
	for _, r := range c.Generation.CharacterSet {
		if !seen[r] {
			seen[r] = true
			b.WriteRune(r)
		}
	}
	c.Generation.CharacterSet = b.String()
	if c.DNS.Resolvers == nil {
		c.DNS.Resolvers = []string{}
	}
	if c.HTTP.Keywords == nil {
		c.HTTP.Keywords = []string{}
	}
	if c.HTTP.ProxyIDs == nil {
		c.HTTP.ProxyIDs = []uuid.UUID{}
	}
}

// Validate checks everything about a configuration that can be checked
// without the database, and returns an EINVALID *Error naming every bad field
// by its JSON Pointer in the create body.
func (c *CampaignConfig) Validate() error {
	var errs []FieldError
	bad := func(pointer, format string, args ...any) {
		errs = append(errs, FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)})
	}

	g := c.Generation
	switch g.PatternType {
	case PatternPrefix, PatternSuffix, PatternBoth:
	default:
		bad("/generation/pattern_type", "must be one of prefix, suffix, both")
	}
	if !labelChars.MatchString(g.ConstantString) {
		bad("/generation/constant_string", "may hold only lowercase letters, digits and hyphens")
	}
	if g.CharacterSet == "" {
		bad("/generation/character_set", "must not be empty")
	} else if !labelChars.MatchString(g.CharacterSet) {
		bad("/generation/character_set", "may hold only lowercase letters, digits and hyphens")
	}
	if g.VariableLength < 1 {
		bad("/generation/variable_length", "must be at least 1")
	}
	if labelLen := g.VariableLength*variableParts(g.PatternType) + len(g.ConstantString); g.VariableLength >= 1 && labelLen > 63 {
		bad("/generation/variable_length", "makes labels of %d characters; a DNS label holds at most 63", labelLen)
	}
	if len(g.TLDs) == 0 {
		bad("/generation/tlds", "must list at least one TLD")
	}
	seenTLD := map[string]bool{}
	for i, t := range g.TLDs {
		p := fmt.Sprintf("/generation/tlds/%d", i)
		switch {
		case !strings.HasPrefix(t, "."):
			bad(p, "%q must start with a dot, as in \".com\"", t)
		case !tldPattern.MatchString(t):
			bad(p, "%q is not a valid TLD (lowercase letters, digits and inner hyphens)", t)
		case seenTLD[t]:
			bad(p, "%q is listed twice", t)
		}
		seenTLD[t] = true
	}
	if g.MaxDomains < 1 {
		bad("/generation/max_domains", "must be at least 1")
	}

	d := c.DNS
	for i, r := range d.Resolvers {
		if err := checkHostPort(r); err != nil {
			bad(fmt.Sprintf("/dns/resolvers/%d", i), "%q is not host:port: %v", r, err)
		}
	}
	if d.TimeoutMS < 1 || d.TimeoutMS > 60000 {
		bad("/dns/timeout_ms", "must be between 1 and 60000")
	}
	if d.Retries < 0 || d.Retries > 10 {
		bad("/dns/retries", "must be between 0 and 10")
	}
	if d.Concurrency < 1 || d.Concurrency > 10000 {
		bad("/dns/concurrency", "must be between 1 and 10000")
	}
	if d.RateLimitQPS < 0 {
		bad("/dns/rate_limit_qps", "must not be negative")
	}

	h := c.HTTP
	switch h.KeywordMode {
	case "plain":
	case "regex":
		for i, k := range h.Keywords {
			if _, err := regexp.Compile("(?i)" + k); err != nil {
				bad(fmt.Sprintf("/http/keywords/%d", i), "is not a valid regular expression: %v", err)
			}
		}
	default:
		bad("/http/keyword_mode", "must be plain or regex")
	}
	for i, k := range h.Keywords {
		if strings.TrimSpace(k) == "" {
			bad(fmt.Sprintf("/http/keywords/%d", i), "must not be blank")
		}
	}
	if len(h.Ports) == 0 {
		bad("/http/ports", "must list at least one port")
	}
	for i, p := range h.Ports {
		if p < 1 || p > 65535 {
			bad(fmt.Sprintf("/http/ports/%d", i), "%d is not a port (1-65535)", p)
		}
	}
	if h.Scheme != "http" && h.Scheme != "https" {
		bad("/http/scheme", "must be http or https")
	}
	if h.TimeoutMS < 1 || h.TimeoutMS > 120000 {
		bad("/http/timeout_ms", "must be between 1 and 120000")
	}
	if h.Concurrency < 1 || h.Concurrency > 5000 {
		bad("/http/concurrency", "must be between 1 and 5000")
	}
	if h.MaxRedirects < 0 || h.MaxRedirects > 20 {
		bad("/http/max_redirects", "must be between 0 and 20")
	}
	if h.MaxBodyBytes < 1024 || h.MaxBodyBytes > 10<<20 {
		bad("/http/max_body_bytes", "must be between 1024 and 10485760")
	}
	if strings.TrimSpace(h.UserAgent) == "" {
		bad("/http/user_agent", "must not be blank")
	}
	seenProxy := map[uuid.UUID]bool{}
	for i, id := range h.ProxyIDs {
		if seenProxy[id] {
			bad(fmt.Sprintf("/http/proxy_ids/%d", i), "%s is listed twice", id)
		}
		seenProxy[id] = true
	}

	if m := c.Analysis.MinLeadScore; m < 0 || m > 100 {
		bad("/analysis/min_lead_score", "must be between 0 and 100")
	}

	if len(errs) > 0 {
		return Invalid("The campaign configuration is not valid.", errs...)
	}
	return nil
}

func variableParts(patternType string) int {
	if patternType == PatternBoth {
		return 2
	}
	return 1
}

// checkHostPort accepts "host:port" with a non-empty host and a port in 1-65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not in 1-65535", port)
	}
	return nil
}
