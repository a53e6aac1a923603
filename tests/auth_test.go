package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
)

func TestAuthentication(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		c, _ := s.seedCampaign(ctx, t, alice, "guarded", 10, 9)
		pr, err := alice.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "p", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128})
		mustStatus(t, "create proxy", pr, err, 201)

		createBody, _ := json.Marshal(validCreate())
		bulkBody, _ := json.Marshal(api.BulkEnrichedRequest{CampaignIds: []uuid.UUID{c.Id}})
		routes := []struct {
			method, path string
			body         []byte
			ok           int // the status with alice's token
		}{
			{http.MethodGet, "/api/v1/campaigns", nil, 200},
			{http.MethodPost, "/api/v1/campaigns", createBody, 201},
			{http.MethodGet, "/api/v1/campaigns/" + c.Id.String(), nil, 200},
			{http.MethodGet, "/api/v1/campaigns/" + c.Id.String() + "/domains?limit=5", nil, 200},
			{http.MethodGet, "/api/v1/campaigns/" + c.Id.String() + "/domains/status", nil, 200},
			{http.MethodPost, "/api/v1/campaigns/bulk/enriched-data", bulkBody, 200},
			{http.MethodGet, "/api/v1/proxies", nil, 200},
			{http.MethodGet, "/api/v1/proxies/" + pr.JSON201.Id.String(), nil, 200},
			{http.MethodGet, "/api/v1/me", nil, 200},
			{http.MethodDelete, "/api/v1/campaigns/" + c.Id.String(), nil, 204}, // last: it deletes
		}
		// Bad credentials, each as the Authorization header ("" sends none).
		bad := []struct{ name, header string }{
			{"no Authorization header", ""},
			{"a wrong token", "Bearer dfl_" + strings.Repeat("A", 43)},
			{"a wrong token of the older shape", "Bearer dft_" + strings.Repeat("A", 43)},
			{"a token of another shape", "Bearer not-a-domainflow-token"},
			{"a truncated token", "Bearer " + alice.Token[:len(alice.Token)-1]},
			{"the scheme without a token", "Bearer"},
			{"the scheme and a blank token", "Bearer    "},
			{"Basic credentials", "Basic YWxpY2U6c2VjcmV0"},
			{"the token without a scheme", alice.Token},
			{"the token after another scheme", "Token " + alice.Token},
		}

		for _, rt := range routes {
			for _, b := range bad {
				t.Run(rt.method+" "+rt.path+" with "+b.name, func(t *testing.T) {
					var headers []string
					if b.header != "" {
						headers = []string{"Authorization", b.header}
					}
					if rt.body != nil {
						headers = append(headers, "Content-Type", "application/json")
					}
					r := rawRequest(ctx, t, s.BaseURL, rt.method, rt.path, bytes.NewReader(rt.body), headers...)
					checkProblem(t, b.name, r, nil, 401, "unauthorized")
					if r.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: 401 without WWW-Authenticate", b.name)
					}
				})
			}
			// The same request with the token works: the 401s were about credentials.
			r := alice.raw(ctx, t, rt.method, rt.path, bytes.NewReader(rt.body))
			checkStatus(t, rt.method+" "+rt.path+" with alice's token", r, nil, rt.ok)
		}

		// Credentials are checked before anything else: a malformed request
		// without them is a 401, not a 400 describing the API.
		r := rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/api/v1/campaigns/not-a-uuid/domains?limit=abc", nil)
		checkProblem(t, "malformed request without a token", r, nil, 401, "unauthorized")

		// Refused creates created nothing: alice has the campaign her own
		// create made, and the one she deleted is gone.
		list, err := alice.api().ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "list campaigns", list, err, 200)
		if list.JSON200.Total != 1 {
			t.Errorf("alice has %d campaigns, want 1 (only her authenticated create)", list.JSON200.Total)
		}

		// A second token of the same user works too, and is another token.
		again := s.newUser(t, "alice")
		if again.Token == alice.Token || again.ID != alice.ID {
			t.Errorf("a second token create for alice: same token %v, same user %v; want a new token for the same user", again.Token == alice.Token, again.ID == alice.ID)
		}
		r2, err := again.api().ListCampaignsWithResponse(ctx, nil)
		mustStatus(t, "list campaigns with alice's second token", r2, err, 200)
		if r2.JSON200.Total != 1 {
			t.Errorf("alice's second token sees %d campaigns, want 1", r2.JSON200.Total)
		}
	})
}

func TestPublicEndpoints(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		for _, auth := range []string{"", "Bearer dft_wrong"} {
			anon := newClient(s.BaseURL, auth)
			what := func(path string) string {
				if auth == "" {
					return path + " without a token"
				}
				return path + " with a wrong token"
			}

			h, err := anon.GetHealthWithResponse(ctx)
			if checkStatus(t, what("/healthz"), h, err, 200) && (h.JSON200 == nil || h.JSON200.Status != api.HealthStatusOk) {
				t.Errorf("%s: body %s, want status ok", what("/healthz"), h.Body)
			}

			rd, err := anon.GetReadyWithResponse(ctx)
			if checkStatus(t, what("/readyz"), rd, err, 200) {
				if rd.JSON200 == nil || rd.JSON200.Status != api.HealthStatusOk || deref(rd.JSON200.Database) != s.Dialect {
					t.Errorf("%s: body %s, want status ok and database %s", what("/readyz"), rd.Body, s.Dialect)
				}
			}

			// The typed GetOpenAPISpecWithResponse cannot parse the answer (see
			// TestOpenAPISpecThroughTypedClient), so read the plain response.
			specResp, err := anon.GetOpenAPISpec(ctx)
			if err != nil {
				t.Fatalf("%s: %v", what("/openapi.yaml"), err)
			}
			specBody, err := io.ReadAll(specResp.Body)
			specResp.Body.Close()
			spec := rawResponse{Status: specResp.StatusCode, Header: specResp.Header, Body: specBody}
			if checkStatus(t, what("/openapi.yaml"), spec, err, 200) {
				if !strings.Contains(mediaType(spec.ContentType()), "yaml") {
					t.Errorf("%s: Content-Type %q, want YAML", what("/openapi.yaml"), spec.ContentType())
				}
				if !strings.HasPrefix(string(spec.Body), "openapi: 3") || !strings.Contains(string(spec.Body), "/api/v1/campaigns/{campaignId}/domains:") {
					t.Errorf("%s: not the OpenAPI document: %.200s", what("/openapi.yaml"), spec.Body)
				}
			}

			var headers []string
			if auth != "" {
				headers = []string{"Authorization", auth}
			}
			docs := rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/docs/", nil, headers...)
			if checkStatus(t, what("/docs/"), docs, nil, 200) {
				if mediaType(docs.ContentType()) != "text/html" || !strings.Contains(strings.ToLower(string(docs.Body)), "<html") {
					t.Errorf("%s: Content-Type %q, want an HTML page: %.200s", what("/docs/"), docs.ContentType(), docs.Body)
				}
			}
			// /docs leads to the same page (the client follows the redirect).
			d, err := anon.GetDocsWithResponse(ctx)
			if checkStatus(t, what("/docs"), d, err, 200) && mediaType(d.ContentType()) != "text/html" {
				t.Errorf("%s: Content-Type %q, want text/html", what("/docs"), d.ContentType())
			}
		}
	})
}

func TestOpenAPISpecThroughTypedClient(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		spec, err := newClient(s.BaseURL, "").GetOpenAPISpecWithResponse(testCtx(t))
		if checkStatus(t, "/openapi.yaml", spec, err, 200) && spec.YAML200 == nil {
			t.Errorf("/openapi.yaml: the typed client decoded no document")
		}
	})
}
