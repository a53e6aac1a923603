package httpcheck

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

// TestCheckPanicIsLogged breaks a Checker (no HTTP client) and checks that
// the panic costs one result and is logged with its stack.
func TestCheckPanicIsLogged(t *testing.T) {
	var logs bytes.Buffer
	c := &Checker{scheme: "http", ports: []int{80}, timeout: time.Second}
	WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))(c)

	res := c.Check(context.Background(), "Example.com", []string{"192.0.2.1"})
	if res.Status != domainflow.CheckError || !strings.Contains(res.Error, "internal error") || res.CheckedAt.IsZero() {
		t.Errorf("result %+v, want an internal error", res)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	stack, _ := line["stack"].(string)
	if line["level"] != "ERROR" || line["domain"] != "example.com" || line["panic"] == nil ||
		!strings.Contains(stack, "httpcheck.(*Checker).fetch") {
		t.Errorf("log line %s", logs.String())
	}
}
