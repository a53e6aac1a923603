// Command bench measures DomainFlow against baselines taken in the same run:
//
//	go run ./bench -out docs/benchmarks.md
//	go run ./bench -sections generation,dns -out /tmp/b.md
//
// Sections (-sections, default all):
//
//   - paging: a fresh PostgreSQL database seeded with a million domains
//     through store.InsertDomains (next to a COPY of the same rows), then the
//     domain list API timed against the exact SQL the store runs for it,
//     alternately, so both share the machine's noise.
//   - generation: the engine's generation path (generate.New, the rows
//     engine/step.go builds, store.InsertDomains in batches of 10,000) on
//     PostgreSQL and on SQLite, next to each database's own bulk insert of
//     the same rows (COPY; a plain multi-row INSERT), chunks interleaved.
//   - dns: a campaign run by a real campaign.Engine against an authoritative
//     DNS server inside the bench, on PostgreSQL and on SQLite: the DNS
//     phase's rate next to the server's own capacity under a raw UDP load
//     loop, and next to dnscheck.Resolver.Check alone (no database).
//   - lossy: DNS results over a lossy link: an authoritative server on
//     loopback that drops a share of the queries (5% and 10%, seeded), and
//     100,000 names of which about 30% resolve, resolved by a real engine
//     campaign at DomainFlow's default DNS settings (on SQLite and on
//     PostgreSQL) and, in turn, by adnshost and gobuster dns at theirs
//     (installed with apt-get when missing): real domains found, false
//     negatives and positives, wall time; each run stopped after
//     -lossy-limit, rounds kept within -lossy-budget.
//   - memory: a 1,000,000-domain campaign run by the engine in a child
//     process (this binary re-executed), its RSS sampled every 500 ms.
//   - websocket: the realtime hub with 1,000 WebSocket clients and 100
//     campaigns publishing progress (no database), then the messages one
//     client receives for a 100,000-name engine campaign on PostgreSQL next
//     to what per-domain streaming would have sent.
//   - polling: 304 against 200 polls of the real handler on PostgreSQL,
//     interleaved, next to the client alone against a replaying handler.
//   - bodies: the peak RSS of an engine process (a child, as in memory) whose
//     campaign fetches 10 MiB gzip bombs at http.concurrency 60, next to the
//     same campaign fetching small pages, runs alternating.
//   - takeover: the real binary (go build ./cmd/domainflow) serving with
//     default settings; a campaign's instance killed with SIGKILL, then the
//     time until the API shows its progress move again: after a restart on
//     the same address (PostgreSQL and SQLite) and on a second instance of
//     the same PostgreSQL database, next to the time a fresh campaign takes
//     from its start to its first progress, in the same rounds.
//   - hints: an engine campaign on PostgreSQL whose events go through a
//     realtime.Hub and the PostgreSQL bus to a WebSocket client: from each
//     domain write's commit to the domains_changed announcing it, next to
//     the hub's coalescing interval.
//
// Every database is created for the run and dropped (or deleted) at its end;
// every server listens on loopback; the whole run is bounded by
// -max-duration.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/domainflow/domainflow/proxycheck"
	"github.com/domainflow/domainflow/server"
	"github.com/domainflow/domainflow/store"
)

type options struct {
	adminURL    string
	sections    map[string]bool
	domains     int64
	chunk       int
	copyRows    int64
	out         string
	maxDuration time.Duration
	iters       int
	minTime     time.Duration
	maxTime     time.Duration
	warmup      int
	keepDB      bool
	cpuProfile  string
	profileDir  string

	genDomains int64

	dnsDomains     int64
	dnsConcurrency int
	dnsTimeoutMS   int
	resolvingPct   float64
	ceilingRuns    int
	ceilingRun     time.Duration
	phaseTimeout   time.Duration
	dnsLimit       time.Duration

	lossyNames        int64
	lossyResolvingPct float64
	lossyLosses       []float64
	lossySeed         uint64
	lossyRounds       int
	lossyLimit        time.Duration
	lossyBudget       time.Duration

	memDomains      int64
	memResolvingPct float64
	memTimeout      time.Duration

	wsWindow  time.Duration
	wsDomains int64

	pollDomains int64
	pollClients int
	pollRounds  int
	pollRound   time.Duration

	bodyNames  int64
	bodyRounds int

	takeoverRounds int
	takeoverNames  int64
	takeoverQPS    int
	takeoverLimit  time.Duration
	takeoverLogs   string

	hintsNames int64
	hintsQPS   int
}

// allSections are the report's sections, in the order they run.
var allSections = []string{"paging", "generation", "dns", "lossy", "memory", "websocket", "polling", "bodies", "takeover", "hints"}

func main() {
	// The memory section re-executes this binary as the engine's process.
	if len(os.Args) > 2 && os.Args[1] == childFlag {
		if err := childMain(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}

	var o options
	var sections string
	flag.StringVar(&o.adminURL, "postgres-admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL database to create (and drop) the benchmark databases from")
	flag.StringVar(&sections, "sections", "all", "comma-separated sections to run: "+strings.Join(allSections, ",")+" (or all)")
	flag.Int64Var(&o.domains, "domains", 1_000_000, "paging: domains to seed")
	flag.IntVar(&o.chunk, "chunk", 10_000, "paging: domains per store.InsertDomains call while seeding")
	flag.Int64Var(&o.copyRows, "copy-rows", 200_000, "paging: rows for the COPY baseline of seeding (capped by -domains)")
	flag.StringVar(&o.out, "out", "", "write the report as markdown to this file (e.g. docs/benchmarks.md)")
	flag.DurationVar(&o.maxDuration, "max-duration", 30*time.Minute, "stop the whole run after this long")
	flag.IntVar(&o.iters, "iters", 200, "paging: measured API+SQL pairs per scenario (at least, unless -time runs out first)")
	flag.DurationVar(&o.minTime, "min-time", 2*time.Second, "paging: measure each scenario for at least this long")
	flag.DurationVar(&o.maxTime, "time", 20*time.Second, "paging: stop measuring a scenario after this long, even below -iters")
	flag.IntVar(&o.warmup, "warmup", 5, "paging: unmeasured pairs per scenario before measuring (and at least 0.5 s of them)")
	flag.BoolVar(&o.keepDB, "keep-db", false, "paging: do not drop the benchmark database at the end (for EXPLAIN by hand)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "paging: write a CPU profile of the measurements (API, store and client) to this file")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of each generation and dns measurement into this directory")
	flag.Int64Var(&o.genDomains, "gen-domains", 300_000, "generation: names generated and stored on each database")
	flag.Int64Var(&o.dnsDomains, "dns-domains", 200_000, "dns: names of the campaign run on each database")
	flag.IntVar(&o.dnsConcurrency, "dns-concurrency", 512, "dns: the campaign's dns.concurrency")
	flag.IntVar(&o.dnsTimeoutMS, "dns-timeout-ms", 2000, "dns: the campaign's dns.timeout_ms")
	flag.Float64Var(&o.resolvingPct, "resolving-pct", 2, "dns: percent of names the DNS server answers with 127.0.0.1 (the rest NXDOMAIN)")
	flag.IntVar(&o.ceilingRuns, "ceiling-runs", 5, "dns: runs of the server-capacity load loop before and after each measurement")
	flag.DurationVar(&o.ceilingRun, "ceiling-run", time.Second, "dns: length of one server-capacity run")
	flag.DurationVar(&o.phaseTimeout, "campaign-timeout", 5*time.Minute, "dns: give up on an engine campaign after this long")
	flag.DurationVar(&o.dnsLimit, "dns-limit", 60*time.Second, "dns: cancel an engine campaign whose DNS phase runs longer, and report the part done (0: no limit)")
	var losses string
	flag.Int64Var(&o.lossyNames, "lossy-names", 100_000, "lossy: names resolved by every tool")
	flag.Float64Var(&o.lossyResolvingPct, "lossy-resolving-pct", 30, "lossy: percent of names that resolve (the rest NXDOMAIN)")
	flag.StringVar(&losses, "lossy-loss", "5,10", "lossy: comma-separated percents of queries the server drops, one set of runs each")
	flag.Uint64Var(&o.lossySeed, "lossy-seed", 1, "lossy: seed of the server's drops")
	flag.IntVar(&o.lossyRounds, "lossy-rounds", 2, "lossy: rounds of runs (each tool at each loss rate); a round starts only while it fits -lossy-budget")
	flag.DurationVar(&o.lossyLimit, "lossy-limit", 30*time.Second, "lossy: stop a run after this long (a tool's whole run, DomainFlow's DNS phase) and report the part done")
	flag.DurationVar(&o.lossyBudget, "lossy-budget", 6*time.Minute, "lossy: start no round that would take the section past this long")
	flag.Int64Var(&o.memDomains, "memory-domains", 1_000_000, "memory: names of the campaign run in the child process")
	flag.Float64Var(&o.memResolvingPct, "memory-resolving-pct", 1, "memory: percent of names that resolve")
	flag.DurationVar(&o.memTimeout, "memory-timeout", 10*time.Minute, "memory: give up on the child's campaign after this long")
	flag.DurationVar(&o.wsWindow, "ws-window", 10*time.Second, "websocket: length of the measuring window of the 1,000-client fan-out")
	flag.Int64Var(&o.wsDomains, "ws-domains", 100_000, "websocket: names of the engine campaign whose messages are counted")
	flag.Int64Var(&o.pollDomains, "poll-domains", 10_000, "polling: domains of the polled campaign")
	flag.IntVar(&o.pollClients, "poll-clients", 50, "polling: client goroutines")
	flag.IntVar(&o.pollRounds, "poll-rounds", 5, "polling: measured rounds of each kind of request")
	flag.DurationVar(&o.pollRound, "poll-round", time.Second, "polling: length of one round")
	flag.Int64Var(&o.bodyNames, "bodies-names", 300, "bodies: names of each campaign (every one resolves)")
	flag.IntVar(&o.bodyRounds, "bodies-rounds", 5, "bodies: rounds of runs (a small-page campaign and a gzip-bomb one each)")
	flag.IntVar(&o.takeoverRounds, "takeover-rounds", 3, "takeover: rounds of each case (a campaign started, its instance killed)")
	flag.Int64Var(&o.takeoverNames, "takeover-names", 24_000, "takeover: names of each round's campaign")
	flag.IntVar(&o.takeoverQPS, "takeover-qps", 400, "takeover: the campaigns' dns.rate_limit_qps (the DNS phase lasts names/qps seconds)")
	flag.DurationVar(&o.takeoverLimit, "takeover-limit", 4*time.Minute, "takeover: give up waiting for a campaign to move after a kill (or to start) after this long")
	flag.StringVar(&o.takeoverLogs, "takeover-logs", "", "takeover: keep the serve processes' logs in this directory (default: deleted)")
	flag.Int64Var(&o.hintsNames, "hints-names", 100_000, "hints: names of the campaign")
	flag.IntVar(&o.hintsQPS, "hints-qps", 2000, "hints: the campaign's dns.rate_limit_qps (0: none)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	o.sections = map[string]bool{}
	for _, s := range strings.Split(sections, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "all":
			for _, a := range allSections {
				o.sections[a] = true
			}
		case slices.Contains(allSections, s):
			o.sections[s] = true
		case s == "":
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown section %q (want %s or all)\n", s, strings.Join(allSections, ","))
			os.Exit(2)
		}
	}
	if len(o.sections) == 0 {
		fmt.Fprintln(os.Stderr, "bench: -sections names no section")
		os.Exit(2)
	}
	if o.domains < 100 {
		fmt.Fprintln(os.Stderr, "bench: -domains must be at least 100")
		os.Exit(2)
	}
	if o.genDomains < 10_000 || o.dnsDomains < 10_000 || o.memDomains < 10_000 {
		fmt.Fprintln(os.Stderr, "bench: -gen-domains, -dns-domains and -memory-domains must be at least 10,000")
		os.Exit(2)
	}
	for _, l := range strings.Split(losses, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(l), 64)
		if err != nil || x < 0 || x >= 100 {
			fmt.Fprintf(os.Stderr, "bench: -lossy-loss: %q is not a percent in [0, 100)\n", l)
			os.Exit(2)
		}
		o.lossyLosses = append(o.lossyLosses, x)
	}
	if o.lossyNames < 1000 || o.lossyResolvingPct <= 0 || o.lossyResolvingPct > 100 || o.lossyRounds < 1 || o.lossyLimit < time.Second {
		fmt.Fprintln(os.Stderr, "bench: -lossy-names must be at least 1,000, -lossy-resolving-pct in (0, 100], -lossy-rounds at least 1 and -lossy-limit at least 1s")
		os.Exit(2)
	}
	if o.bodyNames < 10 || o.bodyRounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -bodies-names must be at least 10 and -bodies-rounds at least 1")
		os.Exit(2)
	}
	if o.takeoverRounds < 1 || o.takeoverNames < 1000 || o.takeoverQPS < 1 || o.takeoverLimit < 10*time.Second {
		fmt.Fprintln(os.Stderr, "bench: -takeover-rounds must be at least 1, -takeover-names at least 1,000, -takeover-qps at least 1 and -takeover-limit at least 10s")
		os.Exit(2)
	}
	if o.hintsNames < 1000 || o.hintsQPS < 0 {
		fmt.Fprintln(os.Stderr, "bench: -hints-names must be at least 1,000 and -hints-qps not negative")
		os.Exit(2)
	}
	if o.ceilingRuns < 1 || o.ceilingRun < 100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "bench: -ceiling-runs must be at least 1 and -ceiling-run at least 100ms")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()
	if err := run(ctx, o); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (-max-duration %s reached)", err, o.maxDuration)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// quietCapture drops GORM's warning that the benchmark's SQL-capturing
// callback was removed (see captureSQL); everything else goes through.
type quietCapture struct{ slog.Handler }

func (h quietCapture) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "bench:capture") {
		return nil
	}
	// The store's slow-query warning carries the whole statement, values
	// inlined: for a 1,000-row INSERT that is hundreds of kilobytes.
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if v := a.Value.String(); a.Value.Kind() == slog.KindString && len(v) > 300 {
			a = slog.String(a.Key, fmt.Sprintf("%s… (%d bytes)", v[:300], len(v)))
		}
		out.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h quietCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return quietCapture{h.Handler.WithAttrs(as)}
}

func (h quietCapture) WithGroup(name string) slog.Handler {
	return quietCapture{h.Handler.WithGroup(name)}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	rep := &report{
		Date: began.UTC(), NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Domains: o.domains,
		Iters: o.iters, MinTime: o.minTime, MaxTime: o.maxTime, Warmup: o.warmup,
	}
	rep.Modules = moduleVersions()
	if err := serverVersions(ctx, o.adminURL, rep); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}

	// A section that fails is reported as failed; the others still run.
	var failed []string
	for _, name := range allSections {
		if !o.sections[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			rep.Failures = append(rep.Failures, sectionFailure{name, "not run: " + err.Error()})
			failed = append(failed, name)
			continue
		}
		t0 := time.Now()
		logf("=== section %s", name)
		var err error
		switch name {
		case "paging":
			err = runPaging(ctx, o, rep)
		case "generation":
			err = runGeneration(ctx, o, rep)
		case "dns":
			err = runDNS(ctx, o, rep)
		case "lossy":
			err = runLossy(ctx, o, rep)
		case "memory":
			err = runMemory(ctx, o, rep)
		case "websocket":
			err = runWebSocket(ctx, o, rep)
		case "polling":
			err = runPolling(ctx, o, rep)
		case "bodies":
			err = runBodies(ctx, o, rep)
		case "takeover":
			err = runTakeover(ctx, o, rep)
		case "hints":
			err = runHints(ctx, o, rep)
		}
		rep.SectionTimes = append(rep.SectionTimes, sectionTime{name, time.Since(t0)})
		if err != nil {
			logf("section %s failed: %v", name, err)
			rep.Failures = append(rep.Failures, sectionFailure{name, err.Error()})
			failed = append(failed, name)
		}
		runtime.GC()
	}
	rep.Elapsed = time.Since(began)

	rep.print(os.Stdout)
	if o.out != "" {
		if err := rep.writeMarkdown(o.out); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("sections failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// serverVersions reads PostgreSQL's version and memory setting.
func serverVersions(ctx context.Context, adminURL string, rep *report) error {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.QueryRowContext(ctx, "SHOW server_version").Scan(&rep.PGVersion); err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", adminURL, err)
	}
	admin.QueryRowContext(ctx, "SHOW shared_buffers").Scan(&rep.SharedBuffers)
	return nil
}

// moduleVersions returns the versions of the modules the measurements
// depend on, as built into this binary.
func moduleVersions() []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	want := []string{"github.com/jackc/pgx/v5", "gorm.io/gorm", "gorm.io/driver/postgres", "github.com/glebarez/sqlite",
		"modernc.org/sqlite", "github.com/riverqueue/river", "github.com/miekg/dns", "github.com/labstack/echo/v4"}
	var out []string
	for _, m := range bi.Deps {
		if slices.Contains(want, m.Path) {
			out = append(out, m.Path+" "+m.Version)
		}
	}
	return out
}

// runPaging is the paging section: seed a million domains, then time the
// domain list API against its SQL.
func runPaging(ctx context.Context, o options, rep *report) (err error) {
	rep.Paging = true
	dbURL, drop, err := createDatabase(ctx, o.adminURL)
	if err != nil {
		return err
	}
	if o.keepDB {
		logf("keeping the database: %s", dbURL)
	} else {
		defer func() {
			if derr := drop(); derr != nil && err == nil {
				err = derr
			}
		}()
	}

	db, err := store.Open(ctx, dbURL, storeLogger())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	fx, err := seed(ctx, db, o, rep)
	if err != nil {
		return err
	}
	// The real handler, served over real TCP on loopback. Access logs are
	// formatted as in production but thrown away.
	apiLog := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	handler, err := server.New(server.Config{Store: db, Proxies: proxycheck.Checker{Timeout: 5 * time.Second}, Logger: apiLog})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}()
	b := &bench{
		o: o, db: db, fx: fx,
		base: "http://" + ln.Addr().String(),
		client: &http.Client{
			Timeout:   2 * time.Minute,
			Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true, IdleConnTimeout: 2 * time.Minute},
		},
	}
	defer b.client.CloseIdleConnections()

	scenarios, err := b.scenarios(ctx)
	if err != nil {
		return err
	}
	runtime.GC() // leave the seeding's garbage out of the measurements
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, sc := range scenarios {
		logf("measuring %s", sc.name)
		res, err := b.measure(ctx, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rep.Results = append(rep.Results, res)
		logf("  %s", res.oneLine())
	}
	rep.explain(ctx, db)
	return nil
}

// storeLogger is the stores' logger: warnings and errors to stderr, long
// statements clipped.
func storeLogger() *slog.Logger {
	return slog.New(quietCapture{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
}
