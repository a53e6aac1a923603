package domainflow

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// TokenPrefix starts every API token made now, so that secret scanners can
// find a leaked one: "dfl_" and 43 letters and digits (256 random bits).
// Tokens made before it started with LegacyTokenPrefix; they keep working.
const (
	TokenPrefix       = "dfl_"
	LegacyTokenPrefix = "dft_"
)

// Bounds of a token's lifetime, when it has one (a token without an expiry
// lasts until it is revoked), and of its name.
const (
	MinTokenLifetime = time.Minute
	MaxTokenLifetime = 10 * 365 * 24 * time.Hour
	MaxTokenName     = 200
)

// TicketLifetime is how long a WebSocket ticket may wait to be used.
const TicketLifetime = 30 * time.Second

// TokenUseInterval is how stale a token's LastUsedAt may be: a token's use
// is written at most once in that time, not at every request.
const TokenUseInterval = time.Minute

// Token is an API token as its owner sees it. The secret itself is never
// kept: only its SHA-256 is stored, and Hint (the prefix and the last four
// characters) is all that is shown of it afterwards.
type Token struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Name       string
	Hint       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: until revoked
	LastUsedAt *time.Time // nil: never used; otherwise up to TokenUseInterval old
}

// NewToken is what a token's creator asks for.
type NewToken struct {
	UserID   uuid.UUID
	Name     string
	Lifetime time.Duration // 0: until revoked
}

// Validate checks a new token's name and lifetime, naming the fields of a
// create body (/name, /expires_in) in the EINVALID error it returns.
func (n NewToken) Validate() error {
	var errs fieldErrors
	switch {
	case strings.TrimSpace(n.Name) == "":
		errs.add("/name", "must not be blank")
	case utf8.RuneCountInString(n.Name) > MaxTokenName:
		errs.add("/name", "must be at most %d characters", MaxTokenName)
	}
	if n.Lifetime != 0 {
		if err := CheckTokenLifetime(n.Lifetime); err != nil {
			errs.add("/expires_in", "%v", err)
		}
	}
	if len(errs) > 0 {
		return Invalid("The token is not valid.", errs...)
	}
	return nil
}

// Within returns an EUNPROCESSABLE error, naming /expires_in, when the new
// token would outlive the token a making it (at now): a token handed out
// for an hour must not mint one for a year.
func (n NewToken) Within(a Access, now time.Time) error {
	if a.ExpiresAt == nil || (n.Lifetime != 0 && !now.Add(n.Lifetime).After(*a.ExpiresAt)) {
		return nil
	}
	return &Error{Code: EUNPROCESSABLE, Message: "A token cannot make a token that outlives it.",
		Fields: []FieldError{{Pointer: "/expires_in", Detail: fmt.Sprintf("must end by %s, when the token making it expires",
			a.ExpiresAt.UTC().Format(time.RFC3339))}}}
}

// CheckTokenLifetime reports whether d is a lifetime a token may have.
func CheckTokenLifetime(d time.Duration) error {
	if d < MinTokenLifetime || d > MaxTokenLifetime {
		return fmt.Errorf("must be from 1 minute to 10 years (%d to %d seconds)",
			int64(MinTokenLifetime/time.Second), int64(MaxTokenLifetime/time.Second))
	}
	return nil
}

// Access is what a valid token grants: acting as its user, until it
// expires or is revoked.
type Access struct {
	UserID    uuid.UUID
	TokenID   uuid.UUID
	ExpiresAt *time.Time
}

// Expired reports whether the access has run out at now.
func (a *Access) Expired(now time.Time) bool {
	return a.ExpiresAt != nil && !now.Before(*a.ExpiresAt)
}
