// Command bench measures DomainFlow's domain list API against the raw SQL it
// runs, on a fresh PostgreSQL database seeded with a million domains.
//
//	go run ./bench -out docs/benchmarks.md
//
// It creates a database next to -postgres-admin-url (dropped at the end),
// migrates it, makes a user, a token and a campaign through the store, seeds
// the campaign's domains through store.InsertDomains (and times a COPY of the
// same rows into an identical table as the bulk-insert baseline), then serves
// the real handler on a loopback listener and, for each scenario, times the
// HTTP request and the exact SQL the store runs for it (captured from the
// store itself) alternately, so both share the machine's noise. It prints a
// table and, with -out, writes it as markdown with the run's context.
//
// Everything stays on loopback and the whole run is bounded by -max-duration.
package main

import (
	"context"
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/domainflow/domainflow/proxycheck"
	"github.com/domainflow/domainflow/server"
	"github.com/domainflow/domainflow/store"
)

type options struct {
	adminURL    string
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
}

func main() {
	var o options
	flag.StringVar(&o.adminURL, "postgres-admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL database to create (and drop) the benchmark database from")
	flag.Int64Var(&o.domains, "domains", 1_000_000, "domains to seed")
	flag.IntVar(&o.chunk, "chunk", 10_000, "domains per store.InsertDomains call while seeding")
	flag.Int64Var(&o.copyRows, "copy-rows", 200_000, "rows for the COPY baseline of seeding (capped by -domains)")
	flag.StringVar(&o.out, "out", "", "write the report as markdown to this file (e.g. docs/benchmarks.md)")
	flag.DurationVar(&o.maxDuration, "max-duration", 30*time.Minute, "stop the whole run after this long")
	flag.IntVar(&o.iters, "iters", 200, "measured API+SQL pairs per scenario (at least, unless -time runs out first)")
	flag.DurationVar(&o.minTime, "min-time", 2*time.Second, "measure each scenario for at least this long")
	flag.DurationVar(&o.maxTime, "time", 20*time.Second, "stop measuring a scenario after this long, even below -iters")
	flag.IntVar(&o.warmup, "warmup", 5, "unmeasured pairs per scenario before measuring (and at least 0.5 s of them)")
	flag.BoolVar(&o.keepDB, "keep-db", false, "do not drop the benchmark database at the end (for EXPLAIN by hand)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measurements (API, store and client) to this file")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if o.domains < 100 {
		fmt.Fprintln(os.Stderr, "bench: -domains must be at least 100")
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

func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	rep := &report{
		Date: began.UTC(), NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Domains: o.domains,
		Iters: o.iters, MinTime: o.minTime, MaxTime: o.maxTime, Warmup: o.warmup,
	}

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

	storeLog := slog.New(quietCapture{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
	db, err := store.Open(ctx, dbURL, storeLog)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := db.SQL().QueryRowContext(ctx, "SHOW server_version").Scan(&rep.PGVersion); err != nil {
		return err
	}
	db.SQL().QueryRowContext(ctx, "SHOW shared_buffers").Scan(&rep.SharedBuffers)

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
	rep.Elapsed = time.Since(began)

	rep.print(os.Stdout)
	if o.out != "" {
		if err := rep.writeMarkdown(o.out); err != nil {
			return err
		}
		logf("wrote %s", o.out)
	}
	return nil
}
