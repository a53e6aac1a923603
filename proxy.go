package domainflow

import (
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
