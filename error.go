// Package domainflow holds the domain model of DomainFlow — campaigns, their
// configuration, domains and proxies — and the errors every layer speaks.
//
// Subpackages adapt it: store/ to GORM, server/ to HTTP, generate/ turns a
// configuration into names. cmd/domainflow wires them together.
package domainflow

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: the HTTP layer maps each to a status in one
// table and clients may switch on them.
const (
	EINVALID       = "invalid"       // malformed input
	EUNPROCESSABLE = "unprocessable" // well-formed input that cannot work
	EUNAUTHORIZED  = "unauthorized"  // no or bad credentials
	EFORBIDDEN     = "forbidden"     // refused whoever asks
	ENOTFOUND      = "not_found"     // missing, or someone else's
	ECONFLICT      = "conflict"      // not allowed in the current state
	ERATELIMITED   = "rate_limited"  // over the rate limit
	EUNAVAILABLE   = "unavailable"   // a dependency does not answer
	EINTERNAL      = "internal"      // a bug or an unexpected failure
)

// Quota codes: each says which of the operator's Quotas refused a call, so
// that a client can tell them from each other and from a rate limit.
const (
	EQUOTARUNNING    = "quota_running_campaigns" // too many campaigns queued or running
	EQUOTADOMAINS    = "quota_campaign_domains"  // one campaign would have too many domains
	EQUOTASTORED     = "quota_stored_domains"    // the user's campaigns would hold too many domains
	EQUOTAWEBSOCKETS = "quota_websockets"        // too many event WebSockets open with one token
	EQUOTAPROXIES    = "quota_proxies"           // too many proxies
)

// QuotaCodes are the quota codes.
var QuotaCodes = []string{EQUOTARUNNING, EQUOTADOMAINS, EQUOTASTORED, EQUOTAWEBSOCKETS, EQUOTAPROXIES}

// FieldError names one bad piece of input: a JSON Pointer into the body, or a
// parameter name.
type FieldError struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

// Error is an application error: a code, a message for people and, for bad
// input, the fields at fault.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	return fmt.Sprintf("domainflow error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about the given fields.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of the *Error in err's chain, or a generic
// message for internal errors, whose text is never shown to clients.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error."
	}
}
