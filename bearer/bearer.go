// Package bearer reads the API token a request carries (RFC 6750): from its
// Authorization header, and, for WebSocket handshakes, which browsers cannot
// give headers, from its access_token query parameter (discouraged: a
// handshake should carry a single-use ticket instead, TicketParameter).
// server/ and realtime/ both read credentials with it.
package bearer

import (
	"net/http"
	"strings"
)

// QueryParameter is the query parameter FromHeaderOrQuery reads.
const QueryParameter = "access_token"

// TicketParameter is the query parameter of a WebSocket handshake's
// single-use ticket (see Ticket).
const TicketParameter = "ticket"

// Ticket returns the ticket query parameter of a request without an
// Authorization header: a request that sends one is authenticated by it.
func Ticket(r *http.Request) (ticket string, ok bool) {
	if r.Header.Get("Authorization") != "" {
		return "", false
	}
	ticket = r.URL.Query().Get(TicketParameter)
	return ticket, ticket != ""
}

// FromHeader returns the token of the request's "Authorization: Bearer
// <token>" header (the scheme in any case, spaces around the token
// ignored). ok is false when there is no Authorization header, it names
// another scheme, or the token is empty.
func FromHeader(r *http.Request) (token string, ok bool) {
	return parse(r.Header.Get("Authorization"))
}

// FromHeaderOrQuery is FromHeader, or, for a request without an
// Authorization header, the access_token query parameter. A header that is
// present but not a bearer token is not overridden by the query.
func FromHeaderOrQuery(r *http.Request) (token string, ok bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parse(auth)
	}
	token = r.URL.Query().Get(QueryParameter)
	return token, token != ""
}

func parse(auth string) (string, bool) {
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
