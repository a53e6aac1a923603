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
