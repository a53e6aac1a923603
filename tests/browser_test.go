package tests

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/domainflow/domainflow/store"
)

// The dashboard's browser test: a real server (the embedded web/dist), a
// loopback DNS server and web server, and web/e2e/dashboard.e2e.mjs driving
// headless Chromium through playwright-core against them.

const (
	chromiumPath   = "/usr/bin/chromium"
	browserTimeout = 150 * time.Second // the whole script run (it aims at < 60 s)
	npmCITimeout   = 5 * time.Minute
)

// browserPlan is what the script creates through the form and what it must
// then see; it is passed as JSON in E2E_PLAN.
type browserPlan struct {
	Name        string   `json:"name"`
	Constant    string   `json:"constant"`
	Charset     string   `json:"charset"`
	Length      int      `json:"length"`
	TLDs        []string `json:"tlds"`
	BadTLDs     string   `json:"badTlds"` // what is typed first: a TLD without its dot
	MaxDomains  int64    `json:"maxDomains"`
	Keywords    []string `json:"keywords"`
	PageSize    int      `json:"pageSize"`
	Search      string   `json:"search"`
	Expect      expected `json:"expect"`
	SampleLead  string   `json:"sampleLead"`  // a name whose page has the keywords
	SampleNXDom string   `json:"sampleNxdom"` // a name DNS answers NXDOMAIN for
}

type expected struct {
	Total         int64 `json:"total"`
	DNSValidated  int64 `json:"dnsValidated"`
	DNSFailed     int64 `json:"dnsFailed"`
	HTTPValidated int64 `json:"httpValidated"`
	HTTPSkipped   int64 `json:"httpSkipped"`
	Leads         int64 `json:"leads"`
	NoMatch       int64 `json:"noMatch"`
	Validated     int64 `json:"validated"` // overall
	Failed        int64 `json:"failed"`    // overall
	SearchMatches int64 `json:"searchMatches"`
}

// browserPrereqs skips the test (or fails it under CI, which must run it)
// when Chromium or Node.js is missing, and installs web/node_modules if
// playwright-core is not there yet. It returns the repository root.
func browserPrereqs(t *testing.T) (root, node string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so the browser test must run, but: "+format, args...)
		}
		t.Skipf("skipping the dashboard browser test: "+format+" (set CI=1 to make this a failure)", args...)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing("%s is missing (apt-get install -y chromium): %v", chromiumPath, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node (Node.js 20+) is not on PATH: %v", err)
	}
	root, err = filepath.Abs("..")
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	web := filepath.Join(root, "web")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core", "package.json")); err != nil {
		npm, lerr := exec.LookPath("npm")
		if lerr != nil {
			missing("web/node_modules has no playwright-core and npm is not on PATH to install it (%v)", lerr)
		}
		t.Logf("web/node_modules has no playwright-core: running npm --prefix web ci")
		ctx, cancel := context.WithTimeout(t.Context(), npmCITimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "--prefix", web, "ci", "--no-audit", "--no-fund")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm --prefix web ci failed (%v); install the web toolchain by hand:\n%s", err, out)
		}
	}
	return root, node
}

// TestDashboardInBrowser signs in to the embedded dashboard in headless
// Chromium, creates a campaign through the form (a field error first), starts
// it from the list and watches its live progress reach 100%, then checks the
// campaign page: summary counts, Load More, filters and search.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	root, node := browserPrereqs(t)

	// Short steps for frequent progress; the default job timeout, since the
	// form leaves the DNS and HTTP timeouts at their defaults (2 s × 2 tries,
	// 5 s), which engineFlags' 4 s job timeout refuses.
	s := startServer(t, store.SQLite, "--step-time", "300ms")
	alice := s.newUser(t, "alice")

	plan := browserPlan{
		Name: "browser e2e", Constant: "shop", Charset: "abcde", Length: 3,
		TLDs: []string{".test", ".example"}, BadTLDs: "test .example", MaxDomains: 120,
		Keywords: []string{"widgets", "pricing"}, PageSize: 50, Search: "cb",
	}
	names := namesOf(t, prefixGen(plan.Constant, plan.Charset, plan.Length, plan.TLDs, plan.MaxDomains))
	if int64(len(names)) != plan.MaxDomains {
		t.Fatalf("the plan generates %d names, want %d", len(names), plan.MaxDomains)
	}

	// Every 4th name does not exist; of those that resolve, one in three
	// has a page with a title and both keywords (score 30+10+2×15 = 70, a
	// lead at the default minimum of 40), the others a bare page (30). The
	// servers answer a little late, so that the campaign runs for a few
	// seconds and the list shows its progress moving.
	const dnsDelay, pageDelay = 100 * time.Millisecond, 400 * time.Millisecond
	web := startWeb(t, slowPage(pageDelay, htmlPage(http.StatusOK, "", "nothing to see here")))
	rules := map[string]dnsAction{}
	e := &plan.Expect
	e.Total = int64(len(names))
	for i, n := range names {
		if strings.Contains(n, plan.Search) {
			e.SearchMatches++
		}
		switch i % 4 {
		case 0:
			rules[n] = dnsNXDomain
			e.DNSFailed++
			e.HTTPSkipped++
			e.NoMatch++
			if plan.SampleNXDom == "" {
				plan.SampleNXDom = n
			}
		case 1:
			rules[n] = dnsAnswer
			web.handle(n, slowPage(pageDelay, htmlPage(http.StatusOK, "Acme Widgets", "Buy widgets at fair pricing")))
			e.DNSValidated++
			e.HTTPValidated++
			e.Leads++
			if plan.SampleLead == "" {
				plan.SampleLead = n
			}
		default:
			rules[n] = dnsAnswer
			e.DNSValidated++
			e.HTTPValidated++
			e.NoMatch++
		}
	}
	e.Validated, e.Failed = e.Leads, e.Total-e.Leads
	if e.SearchMatches == 0 || e.SearchMatches > int64(plan.PageSize) {
		t.Fatalf("search %q matches %d names; the plan wants 1..%d (one page)", plan.Search, e.SearchMatches, plan.PageSize)
	}
	dnsSrv := startDNS(t, dnsDelay, func(name string) dnsAction {
		if a, ok := rules[name]; ok {
			return a
		}
		return dnsNXDomain
	})

	planJSON, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	// DOMAINFLOW_BROWSER_SCREENSHOTS keeps the screenshots (a directory
	// that is not removed); by default they go with the test's temp dir.
	shots := os.Getenv("DOMAINFLOW_BROWSER_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatalf("DOMAINFLOW_BROWSER_SCREENSHOTS: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("web", "e2e", "dashboard.e2e.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"BASE_URL="+s.BaseURL,
		"TOKEN="+alice.Token,
		"DNS_ADDR="+dnsSrv.Addr,
		"WEB_PORT="+strconv.Itoa(web.Port),
		"SCREENSHOT_DIR="+shots,
		"CHROMIUM_PATH="+chromiumPath,
		"E2E_PLAN="+string(planJSON),
	)
	// Node and the Chromium it starts are one process group: a timeout
	// kills them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out

	started := time.Now()
	err = cmd.Run()
	took := time.Since(started).Round(time.Millisecond)
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // a Chromium left behind
	}
	if err != nil {
		why := err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = "timed out after " + browserTimeout.String()
		}
		t.Fatalf("node web/e2e/dashboard.e2e.mjs failed after %v (%s); screenshots in %s; its output:\n%s", took, why, shots, out.String())
	}
	t.Logf("node web/e2e/dashboard.e2e.mjs passed in %v; its output:\n%s", took, out.String())

	// The browser's campaign really went through the test servers.
	if dnsSrv.Queries(plan.SampleNXDom) == 0 || dnsSrv.Queries(plan.SampleLead) == 0 {
		t.Errorf("the DNS server was not asked for %s and %s", plan.SampleNXDom, plan.SampleLead)
	}
	if web.Hits(plan.SampleLead) == 0 {
		t.Errorf("the web server got no request for %s", plan.SampleLead)
	}
	if web.Hits(plan.SampleNXDom) != 0 {
		t.Errorf("the web server got a request for %s, which does not resolve", plan.SampleNXDom)
	}
}
