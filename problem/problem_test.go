package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/problem"
)

func TestClassify(t *testing.T) {
	fields := []domainflow.FieldError{
		{Pointer: "/generation/tlds/0", Detail: "must start with a dot"},
		{Parameter: "limit", Detail: "must be at most 1000"},
	}
	internal := problem.Problem{Status: 500, Code: "internal", Title: "Internal Server Error", Detail: problem.InternalDetail, Internal: true}
	tests := []struct {
		name string
		err  error
		want problem.Problem
	}{
		// Each code, through the one table.
		{"invalid", domainflow.Errorf(domainflow.EINVALID, "Bad."), problem.Problem{Status: 400, Code: "invalid", Title: "Bad Request", Detail: "Bad."}},
		{"unprocessable", domainflow.Errorf(domainflow.EUNPROCESSABLE, "No."), problem.Problem{Status: 422, Code: "unprocessable", Title: "Unprocessable Entity", Detail: "No."}},
		{"unauthorized", domainflow.Errorf(domainflow.EUNAUTHORIZED, "Who?"), problem.Problem{Status: 401, Code: "unauthorized", Title: "Unauthorized", Detail: "Who?"}},
		{"forbidden", domainflow.Errorf(domainflow.EFORBIDDEN, "Never."), problem.Problem{Status: 403, Code: "forbidden", Title: "Forbidden", Detail: "Never."}},
		{"not_found", domainflow.Errorf(domainflow.ENOTFOUND, "Gone."), problem.Problem{Status: 404, Code: "not_found", Title: "Not Found", Detail: "Gone."}},
		{"conflict", domainflow.Errorf(domainflow.ECONFLICT, "Not now."), problem.Problem{Status: 409, Code: "conflict", Title: "Conflict", Detail: "Not now."}},
		{"rate_limited", domainflow.Errorf(domainflow.ERATELIMITED, "Slow down."), problem.Problem{Status: 429, Code: "rate_limited", Title: "Too Many Requests", Detail: "Slow down."}},
		{"unavailable", domainflow.Errorf(domainflow.EUNAVAILABLE, "Later."), problem.Problem{Status: 503, Code: "unavailable", Title: "Service Unavailable", Detail: "Later."}},
		{"internal *Error", domainflow.Errorf(domainflow.EINTERNAL, "Broken."), problem.Problem{Status: 500, Code: "internal", Title: "Internal Server Error", Detail: "Broken.", Internal: true}},
		{"quota over time", domainflow.Quotas{Proxies: 1}.CheckProxies(1),
			problem.Problem{Status: 429, Code: "quota_proxies", Title: "Too Many Requests", Detail: "Your quota of proxies is 1, and you have 1: delete one first."}},
		{"quota of one call", domainflow.Quotas{CampaignDomains: 10}.CheckCampaignDomains(11),
			problem.Problem{Status: 422, Code: "quota_campaign_domains", Title: "Unprocessable Entity", Detail: "The quota of domains per campaign is 10; this one would have 11.",
				Fields: []domainflow.FieldError{{Pointer: "/generation/max_domains", Detail: "gives 11 domains; the quota per campaign is 10"}}}},

		// Wrapped: the *Error's message, never the wrapper's text.
		{"wrapped with %w", fmt.Errorf("store: get campaign 42: %w", domainflow.Errorf(domainflow.ENOTFOUND, "Campaign not found.")),
			problem.Problem{Status: 404, Code: "not_found", Title: "Not Found", Detail: "Campaign not found."}},
		{"joined", errors.Join(errors.New("context"), domainflow.Errorf(domainflow.ECONFLICT, "Wrapped conflict.")),
			problem.Problem{Status: 409, Code: "conflict", Title: "Conflict", Detail: "Wrapped conflict."}},

		// Bad input names its fields.
		{"validation fields", domainflow.Invalid("The request is not valid.", fields...),
			problem.Problem{Status: 400, Code: "invalid", Title: "Bad Request", Detail: "The request is not valid.", Fields: fields}},
		{"wrapped validation fields", fmt.Errorf("check: %w", domainflow.Invalid("Bad config.", fields[0])),
			problem.Problem{Status: 400, Code: "invalid", Title: "Bad Request", Detail: "Bad config.", Fields: fields[:1]}},

		// Internal: generic detail, whatever the error says.
		{"plain error", errors.New("pq: password authentication failed for user secret-user"), internal},
		{"wrapped plain error", fmt.Errorf("ping: %w", errors.New("dial tcp: connection refused")), internal},
		{"unknown code", domainflow.Errorf("bogus", "Secret detail."), internal},
		{"unknown code with fields", &domainflow.Error{Code: "bogus", Message: "x", Fields: fields}, internal},

		// Statuses without a code of their own.
		{"with status 405", problem.WithStatus(405, domainflow.Errorf(domainflow.EINVALID, "Method DELETE is not allowed on this route.")),
			problem.Problem{Status: 405, Code: "invalid", Title: "Method Not Allowed", Detail: "Method DELETE is not allowed on this route."}},
		{"with status 413, wrapped", fmt.Errorf("bind: %w", problem.WithStatus(413, domainflow.Invalid("Request body too large"))),
			problem.Problem{Status: 413, Code: "invalid", Title: "Request Entity Too Large", Detail: "Request body too large"}},
		{"with status on a plain error", problem.WithStatus(502, errors.New("upstream said: secret")),
			problem.Problem{Status: 502, Code: "internal", Title: "Bad Gateway", Detail: problem.InternalDetail, Internal: true}},

		{"nil", nil, problem.Problem{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problem.Classify(tt.err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Classify(%v)\n got %+v\nwant %+v", tt.err, got, tt.want)
			}
			if tt.err != nil && got.Internal && strings.Contains(fmt.Sprint(got), "secret") {
				t.Errorf("internal error text in the problem: %+v", got)
			}
		})
	}
}

func TestWithStatusIgnoresNonErrorStatuses(t *testing.T) {
	err := domainflow.Errorf(domainflow.ECONFLICT, "x")
	for _, status := range []int{0, 200, 304, 600} {
		if got := problem.Classify(problem.WithStatus(status, err)).Status; got != 409 {
			t.Errorf("WithStatus(%d): status %d, want the code's 409", status, got)
		}
	}
	if problem.WithStatus(405, nil) != nil {
		t.Errorf("WithStatus(405, nil) is not nil")
	}
}

func TestStatusTable(t *testing.T) {
	for code, want := range map[string]int{
		"invalid": 400, "unprocessable": 422, "unauthorized": 401, "forbidden": 403, "not_found": 404,
		"conflict": 409, "rate_limited": 429, "unavailable": 503, "internal": 500,
	} {
		if got, ok := problem.Status(code); !ok || got != want {
			t.Errorf("Status(%q) = %d, %v; want %d", code, got, ok, want)
		}
		if got := problem.CodeFor(want); got != code {
			t.Errorf("CodeFor(%d) = %q, want %q", want, got, code)
		}
	}
	// Quotas share their statuses with the general codes, which CodeFor
	// keeps answering.
	for code, want := range map[string]int{
		"quota_running_campaigns": 429, "quota_campaign_domains": 422, "quota_stored_domains": 429,
		"quota_websockets": 429, "quota_proxies": 429,
	} {
		if got, ok := problem.Status(code); !ok || got != want {
			t.Errorf("Status(%q) = %d, %v; want %d", code, got, ok, want)
		}
	}
	if _, ok := problem.Status("bogus"); ok {
		t.Errorf("Status(bogus) is in the table")
	}
	for status, want := range map[int]string{405: "invalid", 413: "invalid", 418: "invalid", 502: "unavailable", 504: "unavailable", 501: "internal"} {
		if got := problem.CodeFor(status); got != want {
			t.Errorf("CodeFor(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	p := problem.Classify(domainflow.Invalid("The request is not valid.",
		domainflow.FieldError{Pointer: "", Detail: "request body is not valid JSON"},
		domainflow.FieldError{Pointer: "/name", Detail: "is required"},
		domainflow.FieldError{Parameter: "limit", Detail: "must be at most 1000"}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/campaigns/x%2Fy/domains?access_token=secret", nil)
	if err := problem.Write(rec, req, p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 400 || rec.Header().Get("Content-Type") != problem.MediaType || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("got %d %v", rec.Code, rec.Header())
	}
	if rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("WWW-Authenticate on a 400")
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "https://domainflow.dev/problems/invalid", "title": "Bad Request", "status": 400.0,
		"code": "invalid", "detail": "The request is not valid.", "instance": "/api/v1/campaigns/x%2Fy/domains",
		"errors": []any{
			map[string]any{"pointer": "", "detail": "request body is not valid JSON"},
			map[string]any{"pointer": "/name", "detail": "is required"},
			map[string]any{"parameter": "limit", "detail": "must be at most 1000"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("document\n got %s\nwant %v", rec.Body, want)
	}

	t.Run("401 says Bearer", func(t *testing.T) {
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest(http.MethodGet, "/api/v1/ws", nil), problem.Classify(domainflow.Errorf(domainflow.EUNAUTHORIZED, "Who?")))
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("got %d %v", rec.Code, rec.Header())
		}
	})
	t.Run("an existing WWW-Authenticate is kept", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		problem.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), problem.Classify(domainflow.Errorf(domainflow.EUNAUTHORIZED, "Who?")))
		if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	})
	t.Run("503 says when to retry", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			rec := httptest.NewRecorder()
			problem.Write(rec, httptest.NewRequest(method, "/api/v1/campaigns", nil), problem.Classify(domainflow.Errorf(domainflow.EUNAVAILABLE, "Down.")))
			if rec.Code != 503 || rec.Header().Get("Retry-After") != strconv.Itoa(problem.RetryAfter) {
				t.Errorf("%s: got %d %v", method, rec.Code, rec.Header())
			}
		}
	})
	t.Run("an existing Retry-After is kept, and no other status gets one", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Retry-After", "30")
		problem.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), problem.Classify(domainflow.Errorf(domainflow.EUNAVAILABLE, "Down.")))
		if got := rec.Header().Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After = %q, want the one set before", got)
		}
		for _, code := range []string{domainflow.EINTERNAL, domainflow.ENOTFOUND} {
			rec := httptest.NewRecorder()
			problem.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), problem.Classify(domainflow.Errorf(code, "No.")))
			if got := rec.Header().Get("Retry-After"); got != "" {
				t.Errorf("%s: Retry-After %q on a %d", code, got, rec.Code)
			}
		}
	})
	t.Run("HEAD has no body", func(t *testing.T) {
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest(http.MethodHead, "/x", nil), problem.Classify(domainflow.Errorf(domainflow.ENOTFOUND, "Gone.")))
		if rec.Code != 404 || rec.Body.Len() != 0 {
			t.Errorf("got %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("the zero Problem is internal", func(t *testing.T) {
		rec := httptest.NewRecorder()
		problem.Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), problem.Problem{})
		if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
}

func TestRespondLogsOnlyInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	respond := func(err error) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Request-Id", "req-1")
		problem.Respond(logger, rec, httptest.NewRequest(http.MethodGet, "/api/v1/ws?access_token=tok", nil), err)
		return rec
	}

	rec := respond(domainflow.Errorf(domainflow.ENOTFOUND, "Gone."))
	if rec.Code != 404 || logs.Len() != 0 {
		t.Errorf("not found: %d, logged %q", rec.Code, logs.String())
	}
	rec = respond(domainflow.Errorf(domainflow.EUNAVAILABLE, "Later."))
	if rec.Code != 503 || logs.Len() != 0 {
		t.Errorf("unavailable: %d, logged %q", rec.Code, logs.String())
	}

	rec = respond(fmt.Errorf("authenticate: %w", errors.New("database secret-host is down")))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("internal: %d %s", rec.Code, rec.Body)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	want := map[string]any{"level": "ERROR", "msg": "internal error", "request_id": "req-1", "method": "GET", "path": "/api/v1/ws",
		"err": "authenticate: database secret-host is down"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (%s)", k, line[k], v, logs.String())
		}
	}
	if strings.Contains(logs.String(), "tok") {
		t.Errorf("the query reached the log: %s", logs.String())
	}
}
