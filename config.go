package domainflow

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

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
	MaxAttempts  int      `json:"max_attempts"`
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
	return DNSConfig{Resolvers: []string{}, TimeoutMS: 2000, Retries: 1, MaxAttempts: 6, Concurrency: 50, RateLimitQPS: 0}
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
	labelChars   = regexp.MustCompile(`^[a-z0-9-]*$`)
	charsetChars = regexp.MustCompile(`^[a-z0-9]*$`)
	tldPattern   = regexp.MustCompile(`^\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// MaxCheckTime is the longest one check of a name may take at worst
// (LongestCheck): Validate refuses a configuration whose DNS or HTTP checks
// could take longer. The engine's job timeout must be longer than it, or a
// campaign accepted here could not run: the engine's default derives from
// it.
const MaxCheckTime = 90 * time.Second

// LongestCheck is how long one check of a name may take at worst in the
// phase: the engine starts a check only when that much of its job's time is
// left, and cannot run a campaign whose checks may take longer than its job
// timeout.
func (c *CampaignConfig) LongestCheck(phase Phase) time.Duration {
	ms := time.Millisecond
	switch phase {
	case PhaseDNS:
		// Its tries, and one more timeout for the NS and MX of a found name.
		d := time.Duration(c.DNS.Retries+2) * time.Duration(c.DNS.TimeoutMS) * ms
		return d + c.DNS.rateLimitWait()
	case PhaseHTTP:
		return time.Duration(len(c.HTTP.Ports)) * time.Duration(c.HTTP.TimeoutMS) * ms
	}
	return time.Second
}

// rateLimitWait is how long a DNS check may wait for the rate limit: every
// query of the checks in flight ahead of it.
func (d *DNSConfig) rateLimitWait() time.Duration {
	if d.RateLimitQPS <= 0 {
		return 0
	}
	return time.Duration(d.Concurrency*(d.Retries+1)) * time.Second / time.Duration(d.RateLimitQPS)
}

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
	if c.DNS.MaxAttempts == 0 {
		// Stored before the setting existed: the tries its retries made.
		c.DNS.MaxAttempts = c.DNS.Retries + 1
	}
}

// Limit is an inclusive range: of a number, or of how many items a list
// holds.
type Limit struct{ Min, Max int64 }

// NumberLimits and ItemLimits are the ranges Validate enforces, by the JSON
// Pointer of the setting in a campaign's configuration ("/-" stands for each
// item of a list). openapi.yaml declares the same ones (minimum/maximum,
// minItems/maxItems), so the request validator refuses the same values
// first; a test keeps the two equal.
var (
	NumberLimits = map[string]Limit{
		"/generation/variable_length": {1, 63},
		"/generation/max_domains":     {1, 100_000_000},
		"/dns/timeout_ms":             {1, 30_000},
		"/dns/retries":                {0, 10},
		"/dns/max_attempts":           {1, 20},
		"/dns/concurrency":            {1, 10_000},
		"/dns/rate_limit_qps":         {0, 1_000_000},
		"/http/ports/-":               {1, 65535},
		"/http/timeout_ms":            {1, 90_000},
		"/http/concurrency":           {1, 5000},
		"/http/max_redirects":         {0, 20},
		"/http/max_body_bytes":        {1024, 10 << 20},
		"/analysis/min_lead_score":    {0, 100},
	}
	ItemLimits = map[string]Limit{
		"/generation/tlds": {1, 100},
		"/dns/resolvers":   {0, 50},
		"/http/keywords":   {0, 100},
		"/http/ports":      {1, 10},
		"/http/proxy_ids":  {0, 100},
	}
)

// fieldErrors collects what is wrong with a configuration.
type fieldErrors []FieldError

func (e *fieldErrors) add(pointer, format string, args ...any) {
	*e = append(*e, FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)})
}

// number checks the number at pointer against its NumberLimits (those of
// "/list/-" for an item "/list/3") and reports whether it is within them.
// The words are the request validator's, so the two answers about one field
// are one.
func (e *fieldErrors) number(pointer string, v int64) bool {
	limit := pointer
	if i := strings.LastIndexByte(pointer, '/'); i >= 0 {
		if _, err := strconv.Atoi(pointer[i+1:]); err == nil {
			limit = pointer[:i] + "/-"
		}
	}
	l, ok := NumberLimits[limit]
	switch {
	case !ok:
		panic("no limit for " + limit)
	case v < l.Min:
		e.add(pointer, "must be at least %d", l.Min)
	case v > l.Max:
		e.add(pointer, "must be at most %d", l.Max)
	default:
		return true
	}
	return false
}

// items checks how many items the list at pointer holds and reports
// whether that is within its ItemLimits.
func (e *fieldErrors) items(pointer string, n int) bool {
	l, ok := ItemLimits[pointer]
	switch {
	case !ok:
		panic("no limit for " + pointer)
	case int64(n) < l.Min:
		e.add(pointer, "must have at least %d %s", l.Min, plural(l.Min, "item"))
	case int64(n) > l.Max:
		e.add(pointer, "must have at most %d %s", l.Max, plural(l.Max, "item"))
	default:
		return true
	}
	return false
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Validate checks everything about a configuration that can be checked
// without the database, and returns an EINVALID *Error naming every bad field
// by its JSON Pointer in the create body.
func (c *CampaignConfig) Validate() error {
	var errs fieldErrors
	c.check(&errs)
	if len(errs) > 0 {
		return Invalid("The campaign configuration is not valid.", errs...)
	}
	return nil
}

func (c *CampaignConfig) check(errs *fieldErrors) {
	c.Generation.check(errs)
	if c.DNS.check(errs) {
		if d := c.LongestCheck(PhaseDNS); d > MaxCheckTime {
			detail := fmt.Sprintf("makes one DNS check take up to %s ((retries + 2) × timeout_ms", d)
			fields := []string{"/dns/timeout_ms", "/dns/retries"}
			if w := c.DNS.rateLimitWait(); w > 0 {
				detail += fmt.Sprintf(", plus %s waiting for the rate limit: concurrency × (retries + 1) queries at rate_limit_qps", w)
				fields = append(fields, "/dns/concurrency", "/dns/rate_limit_qps")
			}
			detail += fmt.Sprintf("); a check may take at most %s", MaxCheckTime)
			for _, f := range fields {
				errs.add(f, "%s", detail)
			}
		}
	}
	if c.HTTP.check(errs) {
		if d := c.LongestCheck(PhaseHTTP); d > MaxCheckTime {
			detail := fmt.Sprintf("makes one HTTP check take up to %s (%d ports × timeout_ms %d); a check may take at most %s",
				d, len(c.HTTP.Ports), c.HTTP.TimeoutMS, MaxCheckTime)
			errs.add("/http/timeout_ms", "%s", detail)
			errs.add("/http/ports", "%s", detail)
		}
	}
	c.Analysis.check(errs)
}

func (g *GenerationConfig) check(errs *fieldErrors) {
	switch g.PatternType {
	case PatternPrefix, PatternSuffix, PatternBoth:
	default:
		errs.add("/generation/pattern_type", "must be one of prefix, suffix, both")
	}
	// No generated label may start or end with a hyphen. Every pattern puts
	// a variable part at a label's start or end (prefix at the start, suffix
	// at the end, both at each), so a hyphen in the character set would make
	// some such names: it is refused. The constant string starts the label
	// in the suffix pattern and ends it in the prefix pattern.
	switch {
	case !labelChars.MatchString(g.ConstantString):
		errs.add("/generation/constant_string", "may hold only lowercase letters, digits and hyphens")
	case g.PatternType == PatternPrefix && strings.HasSuffix(g.ConstantString, "-"):
		errs.add("/generation/constant_string", "must not end with a hyphen: the prefix pattern puts it at the end of the label, and a DNS label cannot end with one")
	case g.PatternType == PatternSuffix && strings.HasPrefix(g.ConstantString, "-"):
		errs.add("/generation/constant_string", "must not start with a hyphen: the suffix pattern puts it at the start of the label, and a DNS label cannot start with one")
	}
	switch {
	case g.CharacterSet == "":
		errs.add("/generation/character_set", "must not be empty")
	case strings.Contains(g.CharacterSet, "-"):
		errs.add("/generation/character_set", "must not hold a hyphen: every pattern puts variable characters at the start or the end of the label, and a DNS label can neither start nor end with a hyphen")
	case !charsetChars.MatchString(g.CharacterSet):
		errs.add("/generation/character_set", "may hold only lowercase letters and digits")
	}
	labelLen := -1 // unknown
	if errs.number("/generation/variable_length", int64(g.VariableLength)) {
		labelLen = g.VariableLength*variableParts(g.PatternType) + len(g.ConstantString)
		if labelLen > MaxLabelLength {
			errs.add("/generation/variable_length", "makes labels of %d characters; a DNS label holds at most %d", labelLen, MaxLabelLength)
		}
	}
	errs.items("/generation/tlds", len(g.TLDs))
	seen := map[string]bool{}
	for i, t := range g.TLDs {
		p := fmt.Sprintf("/generation/tlds/%d", i)
		switch {
		case !strings.HasPrefix(t, "."):
			errs.add(p, "%q must start with a dot, as in \".com\"", t)
		case !tldPattern.MatchString(t):
			errs.add(p, "%q is not a valid TLD (lowercase letters, digits and inner hyphens)", t)
		case seen[t]:
			errs.add(p, "%q is listed twice", t)
		default:
			labels := strings.Split(t[1:], ".")
			for _, l := range labels {
				if len(l) > MaxLabelLength {
					errs.add(p, "%q has a label of %d characters; a DNS label holds at most %d", t, len(l), MaxLabelLength)
				}
			}
			if allDigits(labels[len(labels)-1]) {
				errs.add(p, "%q is all digits; no top-level domain is", t)
			}
			if labelLen >= 0 && labelLen+len(t) > MaxNameLength {
				errs.add(p, "%q makes names of %d characters; a DNS name holds at most %d", t, labelLen+len(t), MaxNameLength)
			}
		}
		seen[t] = true
	}
	errs.number("/generation/max_domains", g.MaxDomains)
}

// check reports whether the numbers LongestCheck uses are within their
// limits.
func (d *DNSConfig) check(errs *fieldErrors) bool {
	errs.items("/dns/resolvers", len(d.Resolvers))
	seen := map[string]int{}
	for i, r := range d.Resolvers {
		p := fmt.Sprintf("/dns/resolvers/%d", i)
		key, err := hostPort(r)
		if err != nil {
			errs.add(p, "%q is not a valid host:port: %v", r, err)
			continue
		}
		if j, ok := seen[key]; ok {
			errs.add(p, "%q is listed twice (as item %d)", r, j)
		} else {
			seen[key] = i
		}
	}
	ok := errs.number("/dns/timeout_ms", int64(d.TimeoutMS))
	ok = errs.number("/dns/retries", int64(d.Retries)) && ok
	errs.number("/dns/max_attempts", int64(d.MaxAttempts))
	if d.MaxAttempts >= 1 && d.Retries >= d.MaxAttempts {
		errs.add("/dns/max_attempts", "must be more than retries (%d): a pass makes retries + 1 tries", d.Retries)
	}
	ok = errs.number("/dns/concurrency", int64(d.Concurrency)) && ok
	ok = errs.number("/dns/rate_limit_qps", int64(d.RateLimitQPS)) && ok
	return ok
}

// check reports whether the numbers LongestCheck uses are within their
// limits.
func (h *HTTPConfig) check(errs *fieldErrors) bool {
	switch h.KeywordMode {
	case "plain":
	case "regex":
		for i, k := range h.Keywords {
			if _, err := regexp.Compile("(?i)" + k); err != nil {
				errs.add(fmt.Sprintf("/http/keywords/%d", i), "is not a valid regular expression: %v", err)
			}
		}
	default:
		errs.add("/http/keyword_mode", "must be plain or regex")
	}
	errs.items("/http/keywords", len(h.Keywords))
	for i, k := range h.Keywords {
		if strings.TrimSpace(k) == "" {
			errs.add(fmt.Sprintf("/http/keywords/%d", i), "must not be blank")
		}
	}
	ok := errs.items("/http/ports", len(h.Ports))
	seenPort := map[int]int{}
	for i, p := range h.Ports {
		ptr := fmt.Sprintf("/http/ports/%d", i)
		if !errs.number(ptr, int64(p)) {
			continue
		}
		if j, dup := seenPort[p]; dup {
			errs.add(ptr, "%d is listed twice (as item %d)", p, j)
		} else {
			seenPort[p] = i
		}
	}
	if h.Scheme != "http" && h.Scheme != "https" {
		errs.add("/http/scheme", "must be http or https")
	}
	ok = errs.number("/http/timeout_ms", int64(h.TimeoutMS)) && ok
	errs.number("/http/concurrency", int64(h.Concurrency))
	errs.number("/http/max_redirects", int64(h.MaxRedirects))
	errs.number("/http/max_body_bytes", h.MaxBodyBytes)
	switch {
	case strings.TrimSpace(h.UserAgent) == "":
		errs.add("/http/user_agent", "must not be blank")
	case strings.ContainsFunc(h.UserAgent, isControl):
		errs.add("/http/user_agent", "must not hold control characters such as CR or LF: it is sent as an HTTP header")
	}
	errs.items("/http/proxy_ids", len(h.ProxyIDs))
	seen := map[uuid.UUID]bool{}
	for i, id := range h.ProxyIDs {
		if seen[id] {
			errs.add(fmt.Sprintf("/http/proxy_ids/%d", i), "%s is listed twice", id)
		}
		seen[id] = true
	}
	return ok
}

// isControl reports whether r is a control character other than a tab,
// which an HTTP header value cannot hold.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' || r == 0x7f
}

func (a *AnalysisConfig) check(errs *fieldErrors) {
	errs.number("/analysis/min_lead_score", int64(a.MinLeadScore))
}

func variableParts(patternType string) int {
	if patternType == PatternBoth {
		return 2
	}
	return 1
}
