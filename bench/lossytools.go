package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// outsideTool is a DNS tool the lossy section runs next to DomainFlow: a
// Debian package's binary, installed with apt-get when it is missing (never
// part of the repository).
type outsideTool struct {
	Name, Bin, Pkg string
	Path           string
	Version        string // as the tool prints it
	PkgVersion     string // as dpkg knows it
	Installed      bool   // by this run
	Cmd            string // how it is run, for the report
	CmdNote        string
	Behaviour      string // what its defaults do, for the report
	Err            string // why it did not run
	okExit         func(code int) bool
}

func adnsTool() *outsideTool {
	return &outsideTool{Name: "adnshost", Bin: "adnshost", Pkg: "adns-tools",
		Behaviour: "sends every name's query at once (adns has no limit on queries in flight) from one socket with the kernel's default receive buffer, " +
			"and an unanswered query again every 2 s, up to 15 times, and prints the results in the order of the names " +
			"(so a stopped run shows only those before the first name still unanswered); its nameserver directive takes an address only, the port is 53",
		// 1-6: some query failed (NXDOMAIN is one); 10, 11: the tool's own trouble.
		okExit: func(code int) bool { return code >= 0 && code <= 6 }}
}

func gobusterTool() *outsideTool {
	return &outsideTool{Name: "gobuster dns", Bin: "gobuster", Pkg: "gobuster", okExit: func(code int) bool { return code == 0 },
		Behaviour: "runs 10 threads, each looking a name up through Go's resolver (an A and an AAAA query, a new socket each) with a 1 s timeout; " +
			"a name whose answer does not come in time is not found, with no retry"}
}

// ensure finds the tool's binary, installing its package when it is
// missing: apt-cache policy first (apt-get update only when apt knows no
// candidate), then apt-get install.
func (t *outsideTool) ensure(ctx context.Context) error {
	if p, err := exec.LookPath(t.Bin); err == nil {
		t.Path = p
	} else {
		if os.Geteuid() != 0 {
			return fmt.Errorf("%s is not installed (Debian package %s), and the bench is not root to install it", t.Bin, t.Pkg)
		}
		if _, err := exec.LookPath("apt-get"); err != nil {
			return fmt.Errorf("%s is not installed (Debian package %s), and there is no apt-get", t.Bin, t.Pkg)
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if !aptCandidate(ictx, t.Pkg) {
			logf("lossy: apt knows no candidate for %s: apt-get update", t.Pkg)
			if out, err := aptGet(ictx, "update"); err != nil {
				return fmt.Errorf("apt-get update: %v: %s", err, lastLines(out, 3))
			}
			if !aptCandidate(ictx, t.Pkg) {
				return fmt.Errorf("apt has no package %s", t.Pkg)
			}
		}
		logf("lossy: %s is missing: apt-get install -y --no-install-recommends %s", t.Bin, t.Pkg)
		if out, err := aptGet(ictx, "install", "-y", "--no-install-recommends", t.Pkg); err != nil {
			return fmt.Errorf("apt-get install %s: %v: %s", t.Pkg, err, lastLines(out, 3))
		}
		p, err := exec.LookPath(t.Bin)
		if err != nil {
			return fmt.Errorf("%s installed, but no %s on PATH", t.Pkg, t.Bin)
		}
		t.Path, t.Installed = p, true
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(vctx, "dpkg-query", "-W", "-f", "${Version}", t.Pkg).Output(); err == nil {
		t.PkgVersion = strings.TrimSpace(string(out))
	}
	arg := "--version"
	if t.Bin == "gobuster" {
		arg = "version"
	}
	if out, err := exec.CommandContext(vctx, t.Path, arg).Output(); err == nil {
		t.Version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	logf("lossy: %s: %s (%s %s)", t.Name, t.Path, t.Pkg, t.PkgVersion)
	return nil
}

func aptCandidate(ctx context.Context, pkg string) bool {
	out, err := exec.CommandContext(ctx, "apt-cache", "policy", pkg).Output()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			v = strings.TrimSpace(v)
			return v != "" && v != "(none)"
		}
	}
	return false
}

func aptGet(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " / ")
}

// toolEnv is the outside tools' environment: nothing that would change how
// they resolve (no ADNS_*, RES_OPTIONS, LOCALDOMAIN, GODEBUG).
func toolEnv() []string {
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "LANG=C"}
}

// runTool runs argv with stdin from the file stdin (when set) until it exits
// or limit passes: then SIGTERM, SIGKILL 3 s later. It never outlives the
// bench (PR_SET_PDEATHSIG).
func runTool(ctx context.Context, t *outsideTool, limit time.Duration, argv []string, stdin string, stdout, stderr io.Writer) (wall time.Duration, stopped bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(rctx, argv[0], argv[1:]...)
	cmd.Env = toolEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return 0, false, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	t0 := time.Now()
	err = cmd.Run()
	wall = time.Since(t0)
	if ctx.Err() != nil {
		return wall, false, ctx.Err()
	}
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return limit, true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && t.okExit(ee.ExitCode()) {
		err = nil
	}
	return wall, false, err
}

// runAdns resolves the names with adnshost at its defaults: every name
// piped in at once (-f), the nameserver given as configuration text (adns
// takes no port: the server is on port 53 of a loopback address).
func (in *lossyInput) runAdns(ctx context.Context, t *outsideTool, srv *lossyServer, loss float64, limit time.Duration) (*lossyRun, error) {
	r := &lossyRun{Tool: t.Name}
	argv := []string{t.Path, "--config", "nameserver " + srv.host, "-f"}
	t.Cmd = fmt.Sprintf("adnshost --config 'nameserver %s' -f < names.txt", srv.host)
	// adnshost writes through stdio: line-buffered, so that what it printed
	// before a stop at the limit is not lost in its buffer.
	if sb, err := exec.LookPath("stdbuf"); err == nil {
		argv = append([]string{sb, "-oL", "-eL"}, argv...)
		t.CmdNote = "run under `stdbuf -oL -eL`, so that what it printed is not lost in its stdio buffer when the bench stops it"
	}
	var mu sync.Mutex
	found, reported := map[string]bool{}, map[string]bool{}
	// Answers: "<name> A INET 127.0.0.1"; failures, on stderr:
	// "<name> does not exist", "Error during DNS A lookup for <name>: …".
	stdout := &lineWriter{f: func(line string) {
		fs := strings.Fields(line)
		if len(fs) >= 3 && (fs[1] == "A" || fs[1] == "AAAA") {
			name := strings.ToLower(strings.TrimSuffix(fs[0], "."))
			mu.Lock()
			found[name], reported[name] = true, true
			mu.Unlock()
		}
	}}
	stderr := &lineWriter{f: func(line string) {
		for _, f := range strings.Fields(line) {
			f = strings.ToLower(strings.TrimRight(f, ":."))
			if strings.HasSuffix(f, "."+lossyZone) {
				mu.Lock()
				reported[f] = true
				mu.Unlock()
				return
			}
		}
	}}
	logf("lossy: %s, %g%% loss: %s", t.Name, loss, t.Cmd)
	m := srv.meter(loss)
	wall, stopped, err := runTool(ctx, t, limit, argv, in.namesFile, stdout, stderr)
	m.fill(r)
	stdout.flush()
	stderr.flush()
	r.Wall, r.Stopped = wall, stopped
	mu.Lock()
	defer mu.Unlock()
	in.score(r, found, func(_ int, name string) bool { return reported[name] })
	return r, err
}

// runGobuster resolves the names with gobuster dns at its defaults: the
// zone as its domain, the labels as its wordlist, the server as its
// resolver. How far it got comes from its progress line.
func (in *lossyInput) runGobuster(ctx context.Context, t *outsideTool, srv *lossyServer, loss float64, limit time.Duration) (*lossyRun, error) {
	r := &lossyRun{Tool: t.Name}
	out := filepath.Join(in.dir, "gobuster.txt")
	os.Remove(out)
	argv := []string{t.Path, "dns", "-d", lossyZone, "-w", in.wordsFile, "-r", srv.addr, "-o", out}
	t.Cmd = fmt.Sprintf("gobuster dns -d %s -w words.txt -r %s -o found.txt", lossyZone, srv.addr)
	var progress atomic64
	stderr := &lineWriter{f: func(line string) {
		if _, rest, ok := strings.Cut(line, "Progress: "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					progress.max(n)
				}
			}
		}
	}}
	logf("lossy: %s, %g%% loss: %s", t.Name, loss, t.Cmd)
	m := srv.meter(loss)
	wall, stopped, err := runTool(ctx, t, limit, argv, "", io.Discard, stderr)
	m.fill(r)
	stderr.flush()
	r.Wall, r.Stopped = wall, stopped
	found := map[string]bool{}
	if f, ferr := os.Open(out); ferr == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Found: "); ok {
				found[strings.ToLower(strings.TrimSuffix(strings.Fields(name + " ")[0], "."))] = true
			}
		}
		f.Close()
	} else if err == nil {
		err = ferr
	}
	done := int64(len(in.names))
	if stopped {
		done = progress.load() // its 10 threads take the words in order
	}
	in.score(r, found, func(i int, name string) bool { return int64(i) < done || found[name] })
	return r, err
}

// atomic64 is a high-water mark.
type atomic64 struct {
	mu sync.Mutex
	v  int64
}

func (a *atomic64) max(v int64) {
	a.mu.Lock()
	a.v = max(a.v, v)
	a.mu.Unlock()
}

func (a *atomic64) load() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.v
}
