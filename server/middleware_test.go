package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/problem"
)

const testCampaignID = "0b7c3d58-2f4e-4a7a-9c1e-5d6f7a8b9c0d"

// syncBuffer is a bytes.Buffer safe for the logger of parallel requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLines decodes the JSON log lines written so far.
func (b *syncBuffer) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// echoBody answers the request body as it reached the handler.
func echoBody(c echo.Context) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

func okHandler(c echo.Context) error { return c.String(http.StatusOK, "ok") }

// newTestEcho builds echo with the middlewares and error handler of this
// package, dummy handlers on real paths of the spec and a few test routes.
func newTestEcho(t testing.TB, extra ...echo.MiddlewareFunc) (*echo.Echo, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))

	swagger, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	validate, err := RequestValidator(swagger, nil)
	if err != nil {
		t.Fatal(err)
	}

	e := echo.New()
	e.HTTPErrorHandler = HTTPErrorHandler(logger)
	e.Use(RequestID(), AccessLog(logger))
	e.Use(extra...)
	e.Use(validate)

	e.GET("/api/v1/campaigns", okHandler)
	e.POST("/api/v1/campaigns", echoBody)
	e.POST("/api/v1/campaigns/bulk/enriched-data", echoBody)
	e.GET("/api/v1/campaigns/:campaignId", okHandler)
	e.GET("/api/v1/campaigns/:campaignId/domains", okHandler)
	e.PATCH("/api/v1/proxies/:proxyId", echoBody)
	e.GET("/healthz", okHandler)

	// Routes outside the spec, to drive the error handler.
	e.GET("/test/code/:code", func(c echo.Context) error {
		return domainflow.Errorf(c.Param("code"), "Message for %s.", c.Param("code"))
	})
	e.HEAD("/test/code/:code", func(c echo.Context) error {
		return domainflow.Errorf(c.Param("code"), "Message for %s.", c.Param("code"))
	})
	e.GET("/test/plain", func(c echo.Context) error {
		return errors.New("pq: password authentication failed for user secret-user")
	})
	e.GET("/test/wrapped", func(c echo.Context) error {
		return errors.Join(errors.New("context"), domainflow.Errorf(domainflow.ECONFLICT, "Wrapped conflict."))
	})
	e.GET("/test/fields", func(c echo.Context) error {
		return domainflow.Invalid("Bad config.",
			domainflow.FieldError{Pointer: "/generation/tlds/0", Detail: "must start with a dot"},
			domainflow.FieldError{Parameter: "limit", Detail: "too big"})
	})
	e.GET("/test/bad-request", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusBadRequest, "Expected one value for If-None-Match, got 2")
	})
	e.GET("/test/too-large", func(c echo.Context) error { return echo.ErrStatusRequestEntityTooLarge })
	e.GET("/test/unavailable", func(c echo.Context) error { return echo.ErrServiceUnavailable })
	e.GET("/test/teapot", func(c echo.Context) error { return echo.NewHTTPError(http.StatusTeapot, "short and stout") })
	e.POST("/test/bind", func(c echo.Context) error {
		var v struct {
			Outer struct {
				N int `json:"n"`
			} `json:"outer"`
		}
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	})
	e.GET("/test/committed", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "partial"); err != nil {
			return err
		}
		return errors.New("failed after writing")
	})
	e.GET("/test/request-id", func(c echo.Context) error {
		return c.String(http.StatusOK, RequestIDFrom(c.Request().Context()))
	})
	return e, logs
}

type response struct {
	status  int
	header  http.Header
	body    string
	problem api.Problem
}

func do(t testing.TB, e *echo.Echo, method, target, body string, header map[string]string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if ct := rec.Header().Get(echo.HeaderContentType); ct == problem.MediaType && method != http.MethodHead {
		// The document is the spec's Problem, member for member.
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&res.problem); err != nil {
			t.Fatalf("problem body %q: %v", res.body, err)
		}
		if !res.problem.Code.Valid() {
			t.Errorf("problem code %q is not in the spec's enum", res.problem.Code)
		}
	}
	return res
}

// fieldOf is a field error of a problem as "parameter:NAME" or "pointer:PTR".
type fieldOf struct {
	where  string
	detail string
}

func problemFields(p api.Problem) []fieldOf {
	if p.Errors == nil {
		return nil
	}
	var out []fieldOf
	for _, f := range *p.Errors {
		switch {
		case f.Parameter != nil:
			out = append(out, fieldOf{"parameter:" + *f.Parameter, f.Detail})
		case f.Pointer != nil:
			out = append(out, fieldOf{"pointer:" + *f.Pointer, f.Detail})
		default:
			out = append(out, fieldOf{"?", f.Detail})
		}
	}
	return out
}

func validCampaign() map[string]any {
	return map[string]any{
		"name": "test",
		"generation": map[string]any{
			"pattern_type":    "prefix",
			"character_set":   "abc",
			"variable_length": 2,
			"tlds":            []any{".com"},
			"max_domains":     100,
		},
	}
}

func campaignWith(t *testing.T, mutate func(m map[string]any)) string {
	t.Helper()
	m := validCampaign()
	mutate(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRequestValidatorRejects(t *testing.T) {
	e, _ := newTestEcho(t)
	domains := "/api/v1/campaigns/" + testCampaignID + "/domains"

	type want struct {
		where  string
		detail string // a substring of the detail
	}
	tests := []struct {
		name        string
		method      string
		target      string
		body        string
		contentType string
		want        []want
	}{
		{"limit 0", "GET", "/api/v1/campaigns?limit=0", "", "", []want{{"parameter:limit", "must be at least 1"}}},
		{"limit 1001", "GET", "/api/v1/campaigns?limit=1001", "", "", []want{{"parameter:limit", "must be at most 1000"}}},
		{"limit abc", "GET", "/api/v1/campaigns?limit=abc", "", "", []want{{"parameter:limit", `must be an integer, got "abc"`}}},
		{"limit 1.5", "GET", "/api/v1/campaigns?limit=1.5", "", "", []want{{"parameter:limit", `must be an integer, got "1.5"`}}},
		{"limit empty", "GET", "/api/v1/campaigns?limit=", "", "", []want{{"parameter:limit", "must not be empty"}}},
		{"limit huge", "GET", "/api/v1/campaigns?limit=99999999999999999999", "", "", []want{{"parameter:limit", "out of range"}}},
		{"offset -1", "GET", "/api/v1/campaigns?offset=-1", "", "", []want{{"parameter:offset", "must be at least 0"}}},
		{"status bogus", "GET", "/api/v1/campaigns?status=bogus", "", "", []want{{"parameter:status", `must be one of draft, queued, running, paused, completed, failed, cancelled, got "bogus"`}}},
		{"two at once", "GET", "/api/v1/campaigns?limit=0&offset=-1", "", "", []want{{"parameter:limit", "at least 1"}, {"parameter:offset", "at least 0"}}},
		{"domains limit 1001", "GET", domains + "?limit=1001", "", "", []want{{"parameter:limit", "must be at most 1000"}}},
		{"domains offset -1", "GET", domains + "?offset=-1", "", "", []want{{"parameter:offset", "must be at least 0"}}},
		{"domains status bogus", "GET", domains + "?status=bogus", "", "", []want{{"parameter:status", "must be one of generated, validated, failed"}}},
		{"domains phase bogus", "GET", domains + "?phase=bogus", "", "", []want{{"parameter:phase", `must be one of dns, http, analysis, got "bogus"`}}},
		{"domains cursor empty", "GET", domains + "?cursor=", "", "", []want{{"parameter:cursor", "must not be empty"}}},
		{"domains q too long", "GET", domains + "?q=" + strings.Repeat("a", 254), "", "", []want{{"parameter:q", "at most 253 characters"}}},
		{"status given twice", "GET", domains + "?status=validated&status=failed", "", "", []want{{"parameter:status", "must be given once, got 2 values"}}},
		{"limit given three times", "GET", "/api/v1/campaigns?limit=1&limit=2&limit=3", "", "", []want{{"parameter:limit", "must be given once, got 3 values"}}},
		{"given twice and bad", "GET", domains + "?q=a&q=b&limit=0", "", "", []want{{"parameter:q", "must be given once, got 2 values"}, {"parameter:limit", "at least 1"}}},
		{"campaign id not a uuid", "GET", "/api/v1/campaigns/not-a-uuid/domains", "", "", []want{{"parameter:campaignId", `must be a UUID, got "not-a-uuid"`}}},
		{"campaign id almost a uuid", "GET", "/api/v1/campaigns/" + testCampaignID[:35] + "g", "", "", []want{{"parameter:campaignId", "must be a UUID"}}},
		{"campaign id escaped", "GET", "/api/v1/campaigns/a%2Fb/domains", "", "", []want{{"parameter:campaignId", `must be a UUID, got "a/b"`}}},
		{"campaign id and limit", "GET", "/api/v1/campaigns/x/domains?limit=0", "", "", []want{{"parameter:campaignId", "must be a UUID"}, {"parameter:limit", "at least 1"}}},
		{"truncated body", "POST", "/api/v1/campaigns", `{"name":"x","generation":{"pattern_type":"prefix"`, "", []want{{"pointer:", "request body is not valid JSON: unexpected end of JSON input"}}},
		{"trailing garbage", "POST", "/api/v1/campaigns", campaignWith(t, func(map[string]any) {}) + "x", "", []want{{"pointer:", "request body is not valid JSON: invalid character 'x' after top-level value"}}},
		{"missing body", "POST", "/api/v1/campaigns", "", "", []want{{"pointer:", "request body is required"}}},
		{"wrong content type", "POST", "/api/v1/campaigns", `name=x`, "text/plain", []want{{"parameter:Content-Type", `must be application/json, got "text/plain"`}}},
		{"tlds [1]", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			m["generation"].(map[string]any)["tlds"] = []any{1}
		}), "", []want{{"pointer:/generation/tlds/0", "must be a string, got 1"}}},
		{"tlds empty", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			m["generation"].(map[string]any)["tlds"] = []any{}
		}), "", []want{{"pointer:/generation/tlds", "must have at least 1 item"}}},
		{"max_domains 0", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			m["generation"].(map[string]any)["max_domains"] = 0
		}), "", []want{{"pointer:/generation/max_domains", "must be at least 1"}}},
		{"missing generation", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			delete(m, "generation")
		}), "", []want{{"pointer:/generation", "is required"}}},
		{"several body errors", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			m["name"] = ""
			m["generation"].(map[string]any)["pattern_type"] = "middle"
			m["dns"] = map[string]any{"timeout_ms": "fast"}
		}), "", []want{
			{"pointer:/name", "must not be empty"},
			{"pointer:/generation/pattern_type", `must be one of prefix, suffix, both, got "middle"`},
			{"pointer:/dns/timeout_ms", `must be an integer, got "fast"`},
		}},
		{"proxy id in body not a uuid", "POST", "/api/v1/campaigns", campaignWith(t, func(m map[string]any) {
			m["http"] = map[string]any{"proxy_ids": []any{"nope"}}
		}), "", []want{{"pointer:/http/proxy_ids/0", `must be a UUID, got "nope"`}}},
		{"bulk ids", "POST", "/api/v1/campaigns/bulk/enriched-data", `{"campaign_ids":["nope"],"limit":0}`, "", []want{
			{"pointer:/campaign_ids/0", "must be a UUID"},
			{"pointer:/limit", "must be at least 1"},
		}},
		{"bulk body not an object", "POST", "/api/v1/campaigns/bulk/enriched-data", `[]`, "", []want{{"pointer:", "must be an object, got an array"}}},
		{"proxy update empty", "PATCH", "/api/v1/proxies/" + testCampaignID, `{}`, "", []want{{"pointer:", "must have at least 1 member"}}},
		{"proxy password not echoed", "PATCH", "/api/v1/proxies/" + testCampaignID, `{"password":12345}`, "", []want{{"pointer:/password", "must be a string"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.contentType != "" {
				header[echo.HeaderContentType] = tt.contentType
			}
			res := do(t, e, tt.method, tt.target, tt.body, header)
			if res.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", res.status, res.body)
			}
			if ct := res.header.Get(echo.HeaderContentType); ct != problem.MediaType {
				t.Errorf("Content-Type = %q", ct)
			}
			p := res.problem
			if p.Code != api.ProblemCodeInvalid || p.Status != 400 || p.Title != "Bad Request" ||
				p.Type != "https://domainflow.dev/problems/invalid" {
				t.Errorf("problem = %+v", p)
			}
			if p.Instance == nil || *p.Instance != strings.SplitN(tt.target, "?", 2)[0] {
				t.Errorf("instance = %v", p.Instance)
			}
			got := problemFields(p)
			if len(got) != len(tt.want) {
				t.Errorf("errors = %+v, want %d of them", got, len(tt.want))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if g.where == w.where && strings.Contains(g.detail, w.detail) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error at %s containing %q in %+v", w.where, w.detail, got)
				}
			}
			if strings.Contains(res.body, "12345") {
				t.Errorf("a writeOnly value is echoed: %s", res.body)
			}
			if strings.Contains(res.body, "Schema:") || strings.Contains(res.body, "doesn't match") {
				t.Errorf("raw kin-openapi text in %s", res.body)
			}
		})
	}
}

func TestRequestValidatorPasses(t *testing.T) {
	e, _ := newTestEcho(t)
	campaign := "{\n  \"name\": \"test\",  \"generation\": {\"pattern_type\":\"prefix\",\"character_set\":\"abc\",\"variable_length\":2,\"tlds\":[\".com\"],\"max_domains\":100},\n  \"http\": {}\n}"
	tests := []struct {
		name, method, target, body string
		wantBody                   string
	}{
		{"list", "GET", "/api/v1/campaigns?limit=1000&offset=0&status=running", "", "ok"},
		{"list no params", "GET", "/api/v1/campaigns", "", "ok"},
		{"unknown query params are ignored", "GET", "/api/v1/campaigns?foo=bar", "", "ok"},
		{"domains", "GET", "/api/v1/campaigns/" + testCampaignID + "/domains?limit=1&cursor=abc&status=failed&phase=dns&q=ex", "", "ok"},
		{"upper-case uuid", "GET", "/api/v1/campaigns/" + strings.ToUpper(testCampaignID), "", "ok"},
		{"body intact", "POST", "/api/v1/campaigns", campaign, campaign},
		{"bulk", "POST", "/api/v1/campaigns/bulk/enriched-data", `{"campaign_ids":["` + testCampaignID + `"]}`, `{"campaign_ids":["` + testCampaignID + `"]}`},
		{"patch", "PATCH", "/api/v1/proxies/" + testCampaignID, `{"enabled":false}`, `{"enabled":false}`},
		{"public", "GET", "/healthz", "", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, e, tt.method, tt.target, tt.body, nil)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			if res.body != tt.wantBody {
				t.Errorf("handler got %q, want %q", res.body, tt.wantBody)
			}
		})
	}
}

func TestRequestValidatorSwaggerUntouched(t *testing.T) {
	swagger, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	servers := len(swagger.Servers)
	if _, err := RequestValidator(swagger, nil); err != nil {
		t.Fatal(err)
	}
	if len(swagger.Servers) != servers {
		t.Errorf("the caller's document lost its servers")
	}
	if _, err := RequestValidator(nil, nil); err == nil {
		t.Errorf("nil document accepted")
	}
}

func TestRequestValidatorBodyTooLarge(t *testing.T) {
	limit := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			req.Body = http.MaxBytesReader(c.Response(), req.Body, 16)
			return next(c)
		}
	}
	e, _ := newTestEcho(t, limit)
	res := do(t, e, "POST", "/api/v1/campaigns", campaignWith(t, func(map[string]any) {}), nil)
	if res.status != http.StatusRequestEntityTooLarge || res.problem.Code != api.ProblemCodeInvalid ||
		res.problem.Detail == nil || *res.problem.Detail != "Request body too large" {
		t.Errorf("got %d %s", res.status, res.body)
	}
}

func TestErrorCodes(t *testing.T) {
	e, logs := newTestEcho(t)
	tests := []struct {
		code   string
		status int
	}{
		{domainflow.EINVALID, 400},
		{domainflow.EUNPROCESSABLE, 422},
		{domainflow.EUNAUTHORIZED, 401},
		{domainflow.EFORBIDDEN, 403},
		{domainflow.ENOTFOUND, 404},
		{domainflow.ECONFLICT, 409},
		{domainflow.ERATELIMITED, 429},
		{domainflow.EUNAVAILABLE, 503},
		{domainflow.EINTERNAL, 500},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			res := do(t, e, "GET", "/test/code/"+tt.code, "", nil)
			p := res.problem
			if res.status != tt.status || p.Status != tt.status || string(p.Code) != tt.code {
				t.Fatalf("got %d %s", res.status, res.body)
			}
			if p.Type != "https://domainflow.dev/problems/"+tt.code || p.Title != http.StatusText(tt.status) {
				t.Errorf("type %q title %q", p.Type, p.Title)
			}
			if p.Detail == nil || *p.Detail != "Message for "+tt.code+"." {
				t.Errorf("detail = %v", p.Detail)
			}
			if p.Errors != nil {
				t.Errorf("errors present: %s", res.body)
			}
			if p.Instance == nil || *p.Instance != "/test/code/"+tt.code {
				t.Errorf("instance = %v", p.Instance)
			}
			wantAuth := ""
			if tt.status == 401 {
				wantAuth = "Bearer"
			}
			if got := res.header.Get(echo.HeaderWWWAuthenticate); got != wantAuth {
				t.Errorf("WWW-Authenticate = %q", got)
			}

			head := do(t, e, "HEAD", "/test/code/"+tt.code, "", nil)
			if head.status != tt.status || head.body != "" {
				t.Errorf("HEAD: %d %q", head.status, head.body)
			}
		})
	}

	t.Run("unknown code is internal", func(t *testing.T) {
		res := do(t, e, "GET", "/test/code/bogus", "", nil)
		if res.status != 500 || res.problem.Code != api.ProblemCodeInternal || strings.Contains(res.body, "bogus") && !strings.Contains(res.body, "/test/code/bogus") {
			t.Errorf("got %d %s", res.status, res.body)
		}
	})
	t.Run("wrapped", func(t *testing.T) {
		res := do(t, e, "GET", "/test/wrapped", "", nil)
		if res.status != 409 || res.problem.Code != api.ProblemCodeConflict {
			t.Errorf("got %d %s", res.status, res.body)
		}
	})
	t.Run("fields", func(t *testing.T) {
		res := do(t, e, "GET", "/test/fields", "", nil)
		got := problemFields(res.problem)
		want := []fieldOf{{"pointer:/generation/tlds/0", "must start with a dot"}, {"parameter:limit", "too big"}}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("errors = %+v", got)
		}
	})
	t.Run("plain error", func(t *testing.T) {
		res := do(t, e, "GET", "/test/plain", "", map[string]string{echo.HeaderXRequestID: "req-plain"})
		p := res.problem
		if res.status != 500 || p.Code != api.ProblemCodeInternal || p.Detail == nil || *p.Detail != problem.InternalDetail {
			t.Fatalf("got %d %s", res.status, res.body)
		}
		if strings.Contains(res.body, "secret") || strings.Contains(res.body, "pq:") {
			t.Errorf("internal error text leaked: %s", res.body)
		}
		var logged bool
		for _, l := range logs.logLines(t) {
			if l["level"] == "ERROR" && l["request_id"] == "req-plain" && l["method"] == "GET" &&
				l["path"] == "/test/plain" && strings.Contains(l["err"].(string), "secret-user") {
				logged = true
			}
		}
		if !logged {
			t.Errorf("internal error not logged: %s", logs.String())
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	e, logs := newTestEcho(t)
	tests := []struct {
		name, method, target, body string
		status                     int
		code                       api.ProblemCode
		detail                     string
		fields                     []fieldOf
		header                     map[string]string
	}{
		{name: "no route", method: "GET", target: "/nowhere", status: 404, code: api.ProblemCodeNotFound, detail: "No such route."},
		{name: "trailing slash", method: "GET", target: "/api/v1/campaigns/", status: 404, code: api.ProblemCodeNotFound, detail: "No such route."},
		{name: "method not allowed", method: "DELETE", target: "/api/v1/campaigns", status: 405, code: api.ProblemCodeInvalid,
			detail: "Method DELETE is not allowed on this route.", header: map[string]string{"Allow": "OPTIONS, GET, POST"}},
		{name: "too large", method: "GET", target: "/test/too-large", status: 413, code: api.ProblemCodeInvalid, detail: "Request body too large"},
		{name: "unavailable", method: "GET", target: "/test/unavailable", status: 503, code: api.ProblemCodeUnavailable, detail: "The service is unavailable."},
		{name: "other 4xx keeps status", method: "GET", target: "/test/teapot", status: 418, code: api.ProblemCodeInvalid, detail: "short and stout"},
		{name: "other 400 keeps its message", method: "GET", target: "/test/bad-request", status: 400, code: api.ProblemCodeInvalid,
			detail: "Expected one value for If-None-Match, got 2"},
		{name: "binder type error", method: "POST", target: "/test/bind", body: `{"outer":{"n":"x"}}`, status: 400, code: api.ProblemCodeInvalid,
			fields: []fieldOf{{"pointer:/outer/n", "must be an integer, got string"}}},
		{name: "binder syntax error", method: "POST", target: "/test/bind", body: `{"outer":}`, status: 400, code: api.ProblemCodeInvalid,
			fields: []fieldOf{{"pointer:", "request body is not valid JSON: invalid character '}' looking for beginning of value"}}},
		{name: "binder truncated", method: "POST", target: "/test/bind", body: `{"outer":{`, status: 400, code: api.ProblemCodeInvalid,
			fields: []fieldOf{{"pointer:", "request body is not valid JSON: unexpected end of JSON input"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, e, tt.method, tt.target, tt.body, nil)
			p := res.problem
			if res.status != tt.status || p.Status != tt.status || p.Code != tt.code {
				t.Fatalf("got %d %s", res.status, res.body)
			}
			if res.header.Get(echo.HeaderContentType) != problem.MediaType {
				t.Errorf("Content-Type = %q", res.header.Get(echo.HeaderContentType))
			}
			if tt.detail != "" && (p.Detail == nil || *p.Detail != tt.detail) {
				t.Errorf("detail = %v, want %q", p.Detail, tt.detail)
			}
			if got := problemFields(p); len(got) != len(tt.fields) || (len(got) > 0 && got[0] != tt.fields[0]) {
				t.Errorf("errors = %+v, want %+v", got, tt.fields)
			}
			for k, v := range tt.header {
				if got := res.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}

	t.Run("committed response is left alone", func(t *testing.T) {
		res := do(t, e, "GET", "/test/committed", "", nil)
		if res.status != 200 || res.body != "partial" {
			t.Errorf("got %d %q", res.status, res.body)
		}
		if !strings.Contains(logs.String(), "failed after writing") {
			t.Errorf("error after commit not logged")
		}
	})
}

func TestRequestID(t *testing.T) {
	e, _ := newTestEcho(t)
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name, incoming string
		keep           bool
	}{
		{"kept", "abc-123", true},
		{"printable ascii kept", "Trace id: {x}/~!", true},
		{"128 kept", strings.Repeat("a", 128), true},
		{"absent", "", false},
		{"129 replaced", strings.Repeat("a", 129), false},
		{"control char replaced", "abc\x01", false},
		{"non-ascii replaced", "abcé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.incoming != "" {
				header[echo.HeaderXRequestID] = tt.incoming
			}
			res := do(t, e, "GET", "/test/request-id", "", header)
			got := res.header.Get(echo.HeaderXRequestID)
			if tt.keep && got != tt.incoming {
				t.Errorf("id = %q, want %q", got, tt.incoming)
			}
			if !tt.keep && !hexID.MatchString(got) {
				t.Errorf("id = %q, want 32 hex digits", got)
			}
			if res.body != got {
				t.Errorf("RequestIDFrom = %q, header %q", res.body, got)
			}
		})
	}

	t.Run("on problems too", func(t *testing.T) {
		res := do(t, e, "GET", "/api/v1/campaigns?limit=0", "", map[string]string{echo.HeaderXRequestID: "rid-1"})
		if res.header.Get(echo.HeaderXRequestID) != "rid-1" {
			t.Errorf("id = %q", res.header.Get(echo.HeaderXRequestID))
		}
	})
	t.Run("unique", func(t *testing.T) {
		a := do(t, e, "GET", "/test/request-id", "", nil).body
		b := do(t, e, "GET", "/test/request-id", "", nil).body
		if a == b {
			t.Errorf("two requests got id %q", a)
		}
	})
}

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name, method, target, route string
		status                      int
	}{
		{"ok", "GET", "/api/v1/campaigns/" + testCampaignID + "?x=1", "/api/v1/campaigns/:campaignId", 200},
		{"validation error", "GET", "/api/v1/campaigns?limit=0", "/api/v1/campaigns", 400},
		{"domain error", "GET", "/test/code/not_found", "/test/code/:code", 404},
		{"internal error", "GET", "/test/plain", "/test/plain", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newTestEcho(t)
			res := do(t, e, tt.method, tt.target, "", map[string]string{echo.HeaderXRequestID: "log-" + tt.name})
			if res.status != tt.status {
				t.Fatalf("status = %d", res.status)
			}
			var lines []map[string]any
			for _, l := range logs.logLines(t) {
				if l["msg"] == "request" {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d access log lines: %s", len(lines), logs.String())
			}
			l := lines[0]
			if l["level"] != "INFO" || l["method"] != tt.method || l["path"] != strings.SplitN(tt.target, "?", 2)[0] ||
				l["route"] != tt.route || l["status"] != float64(tt.status) || l["request_id"] != "log-"+tt.name ||
				l["bytes"] != float64(len(res.body)) || l["remote_addr"] != "192.0.2.1:1234" {
				t.Errorf("log line %v", l)
			}
			if _, ok := l["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms missing: %v", l)
			}
		})
	}
}

// The access log keeps a request's query, but never the value of a
// credential in it, however its name is spelled.
func TestAccessLogRedactsCredentials(t *testing.T) {
	e, logs := newTestEcho(t)
	secrets := []string{"dfl_SecretToken1", "TicketSecret2", "dft_Secret3", "Secret4"}
	target := "/healthz?limit=5&access_token=" + secrets[0] + "&ticket=" + secrets[1] +
		"&access%5Ftoken=" + secrets[2] + "&TICKET=" + secrets[3] + "&q=a%20b"
	if res := do(t, e, "GET", target, "", nil); res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	for _, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
	var query any
	for _, l := range logs.logLines(t) {
		if l["msg"] == "request" {
			query = l["query"]
		}
	}
	want := "limit=5&access_token=REDACTED&ticket=REDACTED&access_token=REDACTED&ticket=REDACTED&q=a%20b"
	if query != want {
		t.Errorf("query logged %q; want %q", query, want)
	}
}

func TestRequestValidatorConcurrent(t *testing.T) {
	e, _ := newTestEcho(t)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if i%2 == 0 {
					if res := do(t, e, "GET", "/api/v1/campaigns?limit=0", "", nil); res.status != 400 {
						t.Errorf("status %d", res.status)
					}
				} else {
					body := `{"campaign_ids":["` + testCampaignID + `"]}`
					if res := do(t, e, "POST", "/api/v1/campaigns/bulk/enriched-data", body, nil); res.status != 200 || res.body != body {
						t.Errorf("status %d body %q", res.status, res.body)
					}
				}
			}
		}(i)
	}
	wg.Wait()
}

func BenchmarkRequestValidator(b *testing.B) {
	e, _ := newTestEcho(b)
	body := `{"name":"test","generation":{"pattern_type":"prefix","character_set":"abc","variable_length":2,"tlds":[".com"],"max_domains":100}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/campaigns", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
