package tests

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/store/storetest"
)

// pathParam is a {name} in a path template.
var pathParam = regexp.MustCompile(`\{([^}/]+)\}`)

// TestRequestBodyExamples sends the example of every request body in the
// spec the server serves (the one Swagger UI's "Try it out" fills in) to the
// server, as it is, and expects a documented 2xx answer. Ids in the path are
// those of a campaign and a proxy made first.
func TestRequestBodyExamples(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			// No periodic proxy check during the test: the example proxy's host is not ours.
			s := startServer(t, d, "--proxy-check-interval", "1h")
			ctx := testCtx(t)
			alice := s.newUser(t, "alice")

			spec := rawRequest(ctx, t, s.BaseURL, http.MethodGet, "/openapi.yaml", nil)
			if spec.Status != http.StatusOK {
				t.Fatalf("GET /openapi.yaml: status %d", spec.Status)
			}
			doc, err := openapi3.NewLoader().LoadFromData(spec.Body)
			if err != nil {
				t.Fatalf("load /openapi.yaml: %v", err)
			}

			campaign := alice.createCampaign(ctx, t, "for the examples", testGeneration())
			pr, err := alice.api().CreateProxyWithResponse(ctx, api.ProxyCreate{
				Name: "for the examples", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128, Enabled: ptr(false),
			})
			mustStatus(t, "create proxy", pr, err, 201)
			ids := map[string]string{"campaignId": campaign.Id.String(), "proxyId": pr.JSON201.Id.String()}

			sent := 0
			paths := doc.Paths.Map()
			for _, path := range slices.Sorted(maps.Keys(paths)) {
				ops := paths[path].Operations()
				for _, method := range slices.Sorted(maps.Keys(ops)) {
					op := ops[method]
					if op.RequestBody == nil || op.RequestBody.Value == nil {
						continue
					}
					what := method + " " + path + " (" + op.OperationID + ")"
					mt := op.RequestBody.Value.Content.Get("application/json")
					if mt == nil {
						t.Errorf("%s: no application/json request body", what)
						continue
					}
					if mt.Example == nil {
						t.Errorf("%s: the request body has no example", what)
						continue
					}
					body, err := json.Marshal(mt.Example)
					if err != nil {
						t.Errorf("%s: example is not JSON: %v", what, err)
						continue
					}
					url, ok := fillPath(path, ids)
					if !ok {
						t.Errorf("%s: no id for a parameter of the path; have %v", what, ids)
						continue
					}
					r := alice.raw(ctx, t, method, url, bytes.NewReader(body))
					sent++
					if r.Status < 200 || r.Status > 299 || op.Responses.Value(strconv.Itoa(r.Status)) == nil {
						t.Errorf("%s: the example answered %d, want a documented 2xx\nexample: %s\nanswer: %s", what, r.Status, body, r.Body)
					}
				}
			}
			if sent == 0 {
				t.Fatal("the spec has no request body examples to send")
			}
		})
	}
}

// fillPath replaces each {name} of the path template with ids[name].
func fillPath(path string, ids map[string]string) (string, bool) {
	ok := true
	out := pathParam.ReplaceAllStringFunc(path, func(m string) string {
		id, found := ids[strings.Trim(m, "{}")]
		if !found {
			ok = false
		}
		return id
	})
	return out, ok
}
