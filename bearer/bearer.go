// Package bearer reads the API token a request carries (RFC 6750): from its
// Authorization header, and, for WebSocket handshakes, which browsers cannot
// give headers, from its access_token query parameter. server/ and
// realtime/ both read tokens with it.
package bearer

import (
	"net/http"
	"strings"
)

// QueryParameter is the query parameter FromHeaderOrQuery reads.
const QueryParameter = "access_token"

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
