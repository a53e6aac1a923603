package bearer_test

import (
	"net/http/httptest"
	"testing"

	"github.com/domainflow/domainflow/bearer"
)

func TestBearer(t *testing.T) {
	tests := []struct {
		name        string
		auth, query string
		header      string // FromHeader's token; "" for none
		either      string // FromHeaderOrQuery's token; "" for none
	}{
		{name: "nothing"},
		{name: "bearer", auth: "Bearer tok", header: "tok", either: "tok"},
		{name: "scheme in any case", auth: "bEaReR tok", header: "tok", either: "tok"},
		{name: "spaces around the token", auth: "Bearer   tok  ", header: "tok", either: "tok"},
		{name: "empty token", auth: "Bearer "},
		{name: "scheme alone", auth: "Bearer"},
		{name: "another scheme", auth: "Basic dG9rOg=="},
		{name: "query only", query: "?access_token=q", either: "q"},
		{name: "empty query", query: "?access_token="},
		{name: "header wins over the query", auth: "Bearer tok", query: "?access_token=q", header: "tok", either: "tok"},
		{name: "a bad header is not overridden by the query", auth: "Basic x", query: "?access_token=q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/ws"+tt.query, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if got, ok := bearer.FromHeader(r); got != tt.header || ok != (tt.header != "") {
				t.Errorf("FromHeader = %q, %v; want %q", got, ok, tt.header)
			}
			if got, ok := bearer.FromHeaderOrQuery(r); got != tt.either || ok != (tt.either != "") {
				t.Errorf("FromHeaderOrQuery = %q, %v; want %q", got, ok, tt.either)
			}
		})
	}
}
