// Package tests holds DomainFlow's end-to-end tests: each starts the real
// domainflow binary on a fresh database of each dialect (SQLite and
// PostgreSQL), drives it over loopback HTTP with the generated Go client, and
// seeds domain rows through the store the way the engine writes them.
package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
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

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: the go command is needed to build the binary:", err)
		return 1
	}
	if binPath, err = buildBinary(ctx, goTool, dir); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building domainflow:", err)
		return 1
	}
	return m.Run()
}

// buildBinary builds this module's domainflow binary and returns its path
// in dir. It is built into a directory of the user's cache kept for this
// checkout, where go build finds it up to date on later runs unless the code
// changed (linking it afresh takes seconds on a small machine), then linked
// (or copied) into dir: the run keeps the binary it started with, whatever
// another run of the same checkout builds meanwhile.
func buildBinary(ctx context.Context, goTool, dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256([]byte(root))
	kept := filepath.Join(cache, "domainflow-e2e", hex.EncodeToString(sum[:8]), "domainflow")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		return "", err
	}
	build := exec.CommandContext(ctx, goTool, "build", "-o", kept, "github.com/domainflow/domainflow/cmd/domainflow")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "domainflow")
	if os.Link(kept, bin) == nil {
		return bin, nil
	}
	return bin, copyFile(bin, kept)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
