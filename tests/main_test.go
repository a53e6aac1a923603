// Package tests holds DomainFlow's end-to-end tests: each starts the real
// domainflow binary on a fresh database of each dialect (SQLite and
// PostgreSQL), drives it over loopback HTTP with the generated Go client, and
// seeds domain rows through the store the way the engine writes them.
package tests

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/domainflow/domainflow/store/storetest"
)

// binPath is the domainflow binary TestMain builds once for every test.
var binPath string

func TestMain(m *testing.M) {
	code := run(m)
	storetest.DropTemplates()
	os.Exit(code)
}

// defaultParallel is how many tests run at once when -parallel is not
// given (go test's default is GOMAXPROCS). These tests spend most of their
// time waiting on servers, timers and the network, not on the CPU, so many
// more than the machine's cores fit; postgresServers keeps the PostgreSQL
// servers among them within bounds.
const defaultParallel = 16

func run(m *testing.M) int {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", strconv.Itoa(max(defaultParallel, runtime.GOMAXPROCS(0))))
	}

	// DOMAINFLOW_E2E_BINARY runs the tests against a binary built elsewhere
	// (a release build, or a deliberately broken one to check that the tests
	// catch it) instead of building this module's.
	if bin := os.Getenv("DOMAINFLOW_E2E_BINARY"); bin != "" {
		binPath = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "domainflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	binPath = filepath.Join(dir, "domainflow")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: the go command is needed to build the binary:", err)
		return 1
	}
	build := exec.CommandContext(ctx, goTool, "build", "-o", binPath, "github.com/domainflow/domainflow/cmd/domainflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building domainflow:", err)
		return 1
	}
	return m.Run()
}
