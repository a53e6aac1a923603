package dnscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
)

// TestCheckPanicIsLogged breaks a Resolver (an upstream without sockets, so
// that picking one divides by zero) and checks that the panic costs one
// result and is logged with its stack.
func TestCheckPanicIsLogged(t *testing.T) {
	var logs bytes.Buffer
	r := &Resolver{upstreams: []*upstream{{addr: "192.0.2.1:53"}}, attempts: 1, timeout: time.Second}
	WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))(r)

	res := r.Check(context.Background(), "example.com")
	if res.Status != domainflow.CheckError || res.Reason != domainflow.ReasonOther || !strings.Contains(res.Error, "internal error") {
		t.Errorf("result %+v, want an internal error", res)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	stack, _ := line["stack"].(string)
	if line["level"] != "ERROR" || line["domain"] != "example.com" || !strings.Contains(line["panic"].(string), "divide by zero") ||
		!strings.Contains(stack, "dnscheck.(*upstream).sock") {
		t.Errorf("log line %s", logs.String())
	}
}
