package domainflow

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Proxy health values.
const (
	HealthUnknown   = "unknown"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Proxy is an HTTP, HTTPS or SOCKS5 proxy owned by a user. Its credentials are
// stored but never leave the service.
type Proxy struct {
	ID            uuid.UUID
	UserID        uuid.UUID
	Name          string
	Protocol      string // http | https | socks5
	Host          string
	Port          int
	Username      string
	Password      string
	Enabled       bool
	Health        string
	LatencyMS     *float64
	LastCheckedAt *time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Proxy protocols.
const (
	ProxyHTTP   = "http"
	ProxyHTTPS  = "https"
	ProxySOCKS5 = "socks5"
)

// maxSOCKS5Credential is the most bytes a SOCKS5 username or password holds
// (RFC 1929 sends each with a one-byte length).
const maxSOCKS5Credential = 255

// Validate checks a proxy's settings, and returns an EINVALID *Error naming
// every bad field by its JSON Pointer in a create or update body: a blank
// name; a host that is not a bare host name or IP address (no scheme, path
// or port: the port is its own field); a port outside 1-65535; and, for
// SOCKS5, credentials longer than its login can carry.
func (p *Proxy) Validate() error {
	var errs fieldErrors
	if strings.TrimSpace(p.Name) == "" {
		errs.add("/name", "must not be blank")
	}
	switch p.Protocol {
	case ProxyHTTP, ProxyHTTPS, ProxySOCKS5:
	default:
		errs.add("/protocol", "must be one of http, https, socks5")
	}
	if err := checkHost(p.Host); err != nil {
		errs.add("/host", "%v", err)
	}
	if p.Port < 1 || p.Port > 65535 {
		errs.add("/port", "must be in 1-65535")
	}
	if p.Protocol == ProxySOCKS5 {
		if len(p.Username) > maxSOCKS5Credential {
			errs.add("/username", "is %d bytes long; a SOCKS5 login carries at most %d", len(p.Username), maxSOCKS5Credential)
		}
		if len(p.Password) > maxSOCKS5Credential {
			errs.add("/password", "is %d bytes long; a SOCKS5 login carries at most %d", len(p.Password), maxSOCKS5Credential)
		}
	}
	if len(errs) > 0 {
		return Invalid("The proxy is not valid.", errs...)
	}
	return nil
}

// User is a person or program that owns campaigns and proxies.
type User struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
}

// RecordCheck sets the proxy's health from a check that took latencyMS or
// failed with err, and reports whether its health changed.
func (p *Proxy) RecordCheck(latencyMS float64, err error) (changed bool) {
	before := p.Health
	at := time.Now().UTC().Truncate(time.Microsecond)
	p.LastCheckedAt = &at
	if err != nil {
		p.Health, p.LatencyMS, p.LastError = HealthUnhealthy, nil, err.Error()
	} else {
		p.Health, p.LatencyMS, p.LastError = HealthHealthy, &latencyMS, ""
	}
	return p.Health != before
}
