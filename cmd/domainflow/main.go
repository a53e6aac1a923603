// Command domainflow is the DomainFlow service and its administration tools:
//
//	domainflow serve                                 run the service
//	domainflow token create --user NAME              create a user if new and print a new API token
//	domainflow token list --user NAME                list a user's tokens (never their secrets)
//	domainflow token revoke --user NAME ID           revoke one of a user's tokens
//	domainflow migrate                               bring the database schema up to date
//	domainflow audit [--user NAME] [--since 24h]     print the audit trail
//	domainflow secrets new-key PATH                  write a new secret key to a file
//	domainflow secrets rotate --new-key-file PATH    re-seal every secret under a new key
//
// Configuration comes from flags, then from DOMAINFLOW_* environment
// variables, then from defaults that work on a laptop.
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
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/engine"
	"github.com/domainflow/domainflow/netguard"
	"github.com/domainflow/domainflow/proxycheck"
	"github.com/domainflow/domainflow/realtime"
	"github.com/domainflow/domainflow/server"
	"github.com/domainflow/domainflow/store"
	"github.com/domainflow/domainflow/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "domainflow:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  domainflow serve [flags]                        run the service
  domainflow token create --user NAME [flags]     create the user if new; print a new API token
                                                  (the last line; --name N, --expires 720h)
  domainflow token list --user NAME [flags]       list the user's tokens (never their secrets)
  domainflow token revoke --user NAME [flags] ID  revoke one of the user's tokens
  domainflow migrate [flags]                      bring the database schema up to date
  domainflow audit [--user NAME] [--since 24h] [--limit N] [flags]
                                                  print the audit trail, newest first
  domainflow secrets new-key PATH                 write a new secret key to a file (mode 0600)
  domainflow secrets rotate --new-key-file PATH [flags]
                                                  re-seal every secret under the new key (instances stopped)

Run "domainflow COMMAND -h" for the flags of a command.`

// config is what every command reads from flags and the environment.
type config struct {
	addr        string
	databaseURL string
	logLevel    string
	logFormat   string
	// The key that seals secrets: its base64 (environment only, so that it
	// never shows in a process list) or a file holding it.
	secretKey     string
	secretKeyFile string

	// The engine (serve only).
	campaigns   int
	stepTime    time.Duration
	jobTimeout  time.Duration
	rescueAfter time.Duration
	// proxyCheckInterval is how often every enabled proxy is checked.
	proxyCheckInterval time.Duration
	// instanceID names this instance among those sharing the database.
	instanceID     string
	httpBodyBudget int64 // bytes of pages this instance's HTTP checks hold at once
	allowedOrigins []string
	trustedProxies []netip.Prefix
	rateLimit      float64
	rateBurst      int
	pprof          bool
	quotas         domainflow.Quotas
	envErr         error

	// allowedNetworks are the ranges the outbound guard opens: campaigns,
	// proxies and proxy checks connect to nothing loopback, private,
	// link-local… outside them.
	allowedNetworks []netip.Prefix
}

// defaultQuotas are what each user may have unless the operator says
// otherwise: enough for real work on a laptop, not enough for one user to
// fill its disk (a campaign at the largest max_domains, 10^8, needs about
// 40 GB) or its file descriptors.
var defaultQuotas = domainflow.Quotas{
	RunningCampaigns: 4,
	CampaignDomains:  10_000_000,
	StoredDomains:    50_000_000,
	WebSockets:       20,
	Proxies:          100,
}

func (c *config) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.addr, "addr", envOr(getenv, "DOMAINFLOW_ADDR", "127.0.0.1:8080"), "listen address (DOMAINFLOW_ADDR)")
	fs.StringVar(&c.databaseURL, "database-url", envOr(getenv, "DOMAINFLOW_DATABASE_URL", store.DefaultURL),
		"postgres://… for PostgreSQL, sqlite://PATH for SQLite (DOMAINFLOW_DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", envOr(getenv, "DOMAINFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (DOMAINFLOW_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envOr(getenv, "DOMAINFLOW_LOG_FORMAT", "text"), "text or json (DOMAINFLOW_LOG_FORMAT)")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", getenv("DOMAINFLOW_SECRET_KEY_FILE"),
		"file holding the base64 key that seals secrets such as proxy passwords; or give the key itself in DOMAINFLOW_SECRET_KEY. "+
			"Default on SQLite: the database file's name plus .key, made on first serve; PostgreSQL needs one (DOMAINFLOW_SECRET_KEY_FILE)")
	c.secretKey = getenv("DOMAINFLOW_SECRET_KEY")
}

// engineFlags are serve's: how this instance works campaigns.
func (c *config) engineFlags(fs *flag.FlagSet, getenv func(string) string) {
	fs.Func("campaign-workers", "campaigns this instance works at once (DOMAINFLOW_CAMPAIGN_WORKERS, default 4)", intFlag(&c.campaigns))
	fs.Func("step-time", "work done on a campaign between checkpoints of its job (DOMAINFLOW_STEP_TIME, default 5s)", durationFlag(&c.stepTime))
	fs.Func("job-timeout", "a step running longer is cut off (DOMAINFLOW_JOB_TIMEOUT, default 2m)", durationFlag(&c.jobTimeout))
	fs.Func("rescue-after", "a step running this long is given to another instance even though its instance still heartbeats (DOMAINFLOW_RESCUE_AFTER, default 3m)", durationFlag(&c.rescueAfter))
	fs.Float64Var(&c.rateLimit, "rate-limit", 50, "requests per second per token; 0 turns limiting off (DOMAINFLOW_RATE_LIMIT)")
	fs.IntVar(&c.rateBurst, "rate-burst", 100, "burst size of the rate limit (DOMAINFLOW_RATE_BURST)")
	fs.Func("allowed-origins", "comma-separated Origin host patterns allowed to open the WebSocket, e.g. app.example.com,*.example.org; empty: same origin only (DOMAINFLOW_ALLOWED_ORIGINS)",
		func(s string) error {
			c.allowedOrigins = nil
			for _, o := range strings.Split(s, ",") {
				if o = strings.TrimSpace(o); o != "" {
					c.allowedOrigins = append(c.allowedOrigins, o)
				}
			}
			return nil
		})
	fs.StringVar(&c.instanceID, "instance-id", "", "this instance's name among those sharing the database: unique among them, the same across restarts "+
		"(DOMAINFLOW_INSTANCE_ID, default HOST/ADDRESS, e.g. web1/10.0.0.5:8080)")
	fs.Func("trusted-proxies", "comma-separated addresses or CIDRs of the reverse proxies in front of this instance, e.g. 10.0.0.0/8; a request from one is taken to come from the address it puts in X-Forwarded-For; empty: the client is the TCP peer, and the header is ignored (DOMAINFLOW_TRUSTED_PROXIES)",
		func(s string) error {
			var err error
			c.trustedProxies, err = netguard.ParseNetworks(s)
			return err
		})
	fs.Func("allowed-networks", "comma-separated CIDRs that campaigns, proxies and proxy checks may connect to although the outbound guard refuses them by default "+
		"(loopback, private, link-local, CGNAT, multicast, documentation and other special-purpose ranges), e.g. 10.0.0.0/8,127.0.0.0/8 for a lab; "+
		"empty: none (DOMAINFLOW_ALLOWED_NETWORKS)",
		func(s string) error {
			var err error
			c.allowedNetworks, err = netguard.ParseNetworks(s)
			return err
		})
	fs.BoolVar(&c.pprof, "pprof", false, "serve net/http/pprof at /debug/pprof (DOMAINFLOW_PPROF)")
	fs.Func("proxy-check-interval", "how often every enabled proxy is checked (DOMAINFLOW_PROXY_CHECK_INTERVAL, default 1m)", durationFlag(&c.proxyCheckInterval))
	fs.Func("http-body-budget", "memory the HTTP checks of every campaign on this instance hold for pages at once, e.g. 64MiB or 1GiB; checks wait for room (DOMAINFLOW_HTTP_BODY_BUDGET, default 64MiB)", bytesFlag(&c.httpBodyBudget))
	c.quotas = defaultQuotas
	for _, q := range quotaFlags(&c.quotas) {
		fs.Func(q.name, fmt.Sprintf("%s; 0: no limit (%s, default %d)", q.usage, q.env, *q.dst), quotaFlag(q.dst))
	}
	envs := map[string]string{"campaign-workers": "DOMAINFLOW_CAMPAIGN_WORKERS", "step-time": "DOMAINFLOW_STEP_TIME",
		"job-timeout": "DOMAINFLOW_JOB_TIMEOUT", "rescue-after": "DOMAINFLOW_RESCUE_AFTER", "proxy-check-interval": "DOMAINFLOW_PROXY_CHECK_INTERVAL",
		"rate-limit": "DOMAINFLOW_RATE_LIMIT", "allowed-origins": "DOMAINFLOW_ALLOWED_ORIGINS", "rate-burst": "DOMAINFLOW_RATE_BURST", "pprof": "DOMAINFLOW_PPROF",
		"trusted-proxies": "DOMAINFLOW_TRUSTED_PROXIES", "instance-id": "DOMAINFLOW_INSTANCE_ID", "http-body-budget": "DOMAINFLOW_HTTP_BODY_BUDGET",
		"allowed-networks": "DOMAINFLOW_ALLOWED_NETWORKS"}
	for _, q := range quotaFlags(&c.quotas) {
		envs[q.name] = q.env
	}
	for flagName, env := range envs {
		if v := getenv(env); v != "" {
			if err := fs.Set(flagName, v); err != nil {
				c.envErr = errors.Join(c.envErr, fmt.Errorf("%s (--%s): %w", env, flagName, err))
			}
		}
	}
}

// quotaSetting is the flag and environment variable of one quota.
type quotaSetting struct {
	name, env, usage string
	dst              *int64
}

// quotaFlags are the settings of the quotas in q.
func quotaFlags(q *domainflow.Quotas) []quotaSetting {
	return []quotaSetting{
		{"quota-running-campaigns", "DOMAINFLOW_QUOTA_RUNNING_CAMPAIGNS", "campaigns a user may have queued or running at once; a start past it is refused, not queued", &q.RunningCampaigns},
		{"quota-campaign-domains", "DOMAINFLOW_QUOTA_CAMPAIGN_DOMAINS", "domains one campaign may have (its total_domains)", &q.CampaignDomains},
		{"quota-stored-domains", "DOMAINFLOW_QUOTA_STORED_DOMAINS", "domains a user's campaigns may have together, until deleted", &q.StoredDomains},
		{"quota-websockets", "DOMAINFLOW_QUOTA_WEBSOCKETS", "event WebSockets one token may hold open at once on this instance", &q.WebSockets},
		{"quota-proxies", "DOMAINFLOW_QUOTA_PROXIES", "proxies a user may have", &q.Proxies},
	}
}

// quotaFlag parses a quota: a whole number, 0 for no limit.
func quotaFlag(dst *int64) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number of 0 (no limit) or more", s)
		}
		*dst = n
		return nil
	}
}

func intFlag(dst *int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number", s)
		}
		*dst = n
		return nil
	}
}

// bytesFlag parses a size of at least 1 MiB: bytes, or a number of KiB,
// MiB or GiB.
func bytesFlag(dst *int64) func(string) error {
	return func(s string) error {
		num, unit := strings.TrimSpace(s), int64(1)
		for i, suffix := range []string{"KiB", "MiB", "GiB"} {
			if n, ok := strings.CutSuffix(num, suffix); ok {
				num, unit = strings.TrimSpace(n), 1<<(10*(i+1))
				break
			}
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 1 || n > (1<<62)/unit || n*unit < 1<<20 {
			return fmt.Errorf("%q is not a size of at least 1MiB such as 64MiB, 1GiB or 67108864 (bytes)", s)
		}
		*dst = n * unit
		return nil
	}
}

func durationFlag(dst *time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 5s or 2m", s)
		}
		*dst = d
		return nil
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
}

// run is the whole program; tests call it with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stderr)
	case "audit":
		return audit(ctx, rest, getenv, stdout, stderr)
	case "secrets":
		return secrets(ctx, rest, getenv, stdout, stderr)
	case "token":
		sub := ""
		if len(rest) > 0 {
			sub, rest = rest[0], rest[1:]
		}
		switch sub {
		case "create":
			return tokenCreate(ctx, rest, getenv, stdout, stderr)
		case "list":
			return tokenList(ctx, rest, getenv, stdout, stderr)
		case "revoke":
			return tokenRevoke(ctx, rest, getenv, stdout, stderr)
		}
		fmt.Fprintln(stderr, usage)
		return errors.New(`unknown token command (want "token create", "token list" or "token revoke")`)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// open parses the flags common to every command and opens the migrated
// store, with the secret key if one is given or kept beside a SQLite file
// (keyIfAny).
func open(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, cfg *config, extra func(*flag.FlagSet)) (*store.DB, *slog.Logger, error) {
	log, err := parse(name, args, getenv, stderr, cfg, extra)
	if err != nil {
		return nil, nil, err
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := useSecretKey(ctx, cfg, db, log, keyIfAny); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, log, nil
}

// parse reads the command's flags and environment into cfg and returns the
// logger they ask for. The command takes no other arguments.
func parse(name string, args []string, getenv func(string) string, stderr io.Writer, cfg *config, extra func(*flag.FlagSet)) (*slog.Logger, error) {
	log, rest, err := parseArgs(name, args, getenv, stderr, cfg, extra)
	if err == nil && len(rest) > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	return log, err
}

// parseArgs is parse for a command that takes arguments besides its flags,
// before or after them; it returns them.
func parseArgs(name string, args []string, getenv func(string) string, stderr io.Writer, cfg *config, extra func(*flag.FlagSet)) (*slog.Logger, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	if cfg.envErr != nil {
		return nil, nil, cfg.envErr
	}
	log, err := cfg.logger(stderr)
	return log, rest, err
}

// openStore opens the store cfg names and brings its schema up to date.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.databaseURL, log)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := engine.Migrate(ctx, db, cfg.databaseURL); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the job queue: %w", err)
	}
	return db, nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	db, log, err := open(ctx, "migrate", args, getenv, stderr, &config{}, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("database schema is up to date", "database", db.Dialect())
	return nil
}

func tokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var user, name string
	var lifetime time.Duration
	db, _, err := open(ctx, "token create", args, getenv, stderr, &config{}, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "name of the user the token is for (created if new)")
		fs.StringVar(&name, "name", "cli", "what the token is for, as its list shows it")
		fs.Func("expires", "how long the token works, from 1m to 87600h (10 years), e.g. 720h; default: until revoked", func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 720h or 90m", s)
			}
			if err := domainflow.CheckTokenLifetime(d); err != nil {
				return fmt.Errorf("%q: %w", s, err)
			}
			lifetime = d
			return nil
		})
	})
	if err != nil {
		return err
	}
	defer db.Close()
	if user == "" {
		return errors.New("--user NAME is required")
	}
	u, err := db.EnsureUser(ctx, user)
	if err != nil {
		return err
	}
	// Audited as the user's own act, from the command line.
	ctx = domainflow.WithActor(ctx, domainflow.Actor{UserID: u.ID, Address: domainflow.AddressCLI})
	t, secret, err := db.IssueToken(ctx, domainflow.NewToken{UserID: u.ID, Name: name, Lifetime: lifetime})
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "Created token %s (%q, %s) for user %q. Keep it: it cannot be shown again.\n%s\n",
		t.ID, t.Name, expiry(t.ExpiresAt), u.Name, secret)
	return nil
}

func tokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var user string
	db, _, err := open(ctx, "token list", args, getenv, stderr, &config{}, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "name of the user whose tokens to list")
	})
	if err != nil {
		return err
	}
	defer db.Close()
	if user == "" {
		return errors.New("--user NAME is required")
	}
	u, err := db.UserByName(ctx, user)
	if err != nil {
		return cliError(err)
	}
	tokens, err := db.ListTokens(ctx, u.ID)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tTOKEN\tCREATED\tEXPIRES\tLAST USED")
	for _, t := range tokens {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Hint, t.CreatedAt.Format(time.RFC3339),
			timeOr(t.ExpiresAt, "never"), timeOr(t.LastUsedAt, "never"))
	}
	return w.Flush()
}

func tokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var user string
	cfg := &config{}
	log, rest, err := parseArgs("token revoke", args, getenv, stderr, cfg, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "name of the user whose token it is")
	})
	if err != nil {
		return err
	}
	if user == "" || len(rest) != 1 {
		return errors.New("want --user NAME and one token ID (see token list)")
	}
	id, err := uuid.Parse(rest[0])
	if err != nil {
		return fmt.Errorf("%q is not a token ID (see token list)", rest[0])
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByName(ctx, user)
	if err != nil {
		return cliError(err)
	}
	ctx = domainflow.WithActor(ctx, domainflow.Actor{UserID: u.ID, Address: domainflow.AddressCLI})
	if err := db.RevokeToken(ctx, u.ID, id); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "Revoked token %s of user %q: every instance refuses it within a second.\n", id, u.Name)
	return nil
}

// cliError is err as a command says it: the message of an application
// error with the fields it names, any other error as it is.
func cliError(err error) error {
	var e *domainflow.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Message
	for _, f := range e.Fields {
		name := f.Parameter
		if name == "" {
			name = strings.TrimPrefix(f.Pointer, "/")
		}
		msg += fmt.Sprintf(" %s %s.", name, f.Detail)
	}
	return errors.New(msg)
}

// expiry says when a token expires, in words for a person.
func expiry(at *time.Time) string {
	if at == nil {
		return "valid until revoked"
	}
	return "expires " + at.Format(time.RFC3339)
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := &config{}
	log, err := parse("serve", args, getenv, stderr, cfg, func(fs *flag.FlagSet) { cfg.engineFlags(fs, getenv) })
	if err != nil {
		return err
	}
	// PostgreSQL without a key is refused before the database is touched.
	if key, _, err := cfg.givenKey(); err != nil {
		return err
	} else if dialect, _ := store.DialectOf(cfg.databaseURL); key == nil && dialect == store.Postgres {
		return errors.New(errNoKey)
	}
	// Then, before opening the database: a second instance on a SQLite file must not
	// start at all. "token create" and "migrate" take no such lock, so they
	// work beside a running service.
	lock, err := store.LockInstance(cfg.databaseURL)
	if err != nil {
		return err
	}
	defer lock.Release()
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, _, err := useSecretKey(ctx, cfg, db, log, keyToServe); err != nil {
		return err
	}

	if cfg.rateLimit < 0 || (cfg.rateLimit > 0 && cfg.rateBurst < 1) {
		return fmt.Errorf("--rate-limit must be 0 or more and --rate-burst at least 1 (got %v and %d)", cfg.rateLimit, cfg.rateBurst)
	}
	metrics := server.NewMetrics()
	processed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "domainflow_campaign_domains_processed_total",
		Help: "Domains written by each campaign phase on this instance.",
	}, []string{"phase"})
	metrics.Registry.MustRegister(processed, collectors.NewDBStatsCollector(db.SQL(), db.Dialect()))

	var bus realtime.Bus
	if db.Dialect() == store.Postgres {
		pgBus, err := realtime.NewPostgresBus(ctx, cfg.databaseURL, log)
		if err != nil {
			return fmt.Errorf("listen for events: %w", err)
		}
		defer pgBus.Close()
		bus = pgBus
	}
	hub := realtime.NewHub(realtime.Config{
		Logger: log, Bus: bus, AllowedOrigins: cfg.allowedOrigins, MaxPerToken: cfg.quotas.WebSockets,
		Authenticate: func(ctx context.Context, token string) (domainflow.Access, error) {
			a, err := db.Authenticate(ctx, token)
			if err != nil {
				return domainflow.Access{}, err
			}
			return *a, nil
		},
		RedeemTicket:    db.RedeemTicket,
		TokensAlive:     db.TokensAlive,
		CampaignOwned:   db.GetCampaign,
		ActiveCampaigns: db.ActiveCampaigns,
	})
	defer hub.Close()
	// The engine and the API tell the users' clients through the hub.
	events := func(ev domainflow.Event) {
		if err := hub.Publish(ev); err != nil {
			log.Warn("publish event", "type", ev.Type, "err", err)
		}
	}
	metrics.Registry.MustRegister(hubCollector{hub})

	// Listening first makes the address this process's own before the
	// engine claims the instance id made of it.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	instanceID := cfg.instanceID
	if instanceID == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("name this instance (set --instance-id): %w", err)
		}
		instanceID = host + "/" + ln.Addr().String()
	}

	if len(cfg.allowedNetworks) > 0 {
		log.Info("outbound guard: these ranges are open to campaigns and proxies", "allowed_networks", fmt.Sprint(cfg.allowedNetworks))
	}
	proxies := proxycheck.Checker{Timeout: 5 * time.Second, Guard: netguard.New(cfg.allowedNetworks)}
	eng, err := engine.New(ctx, engine.Config{Store: db, DatabaseURL: cfg.databaseURL, Logger: log, InstanceID: instanceID,
		Campaigns: cfg.campaigns, StepTime: cfg.stepTime, JobTimeout: cfg.jobTimeout, RescueAfter: cfg.rescueAfter,
		Proxies: proxies, ProxyCheckInterval: cfg.proxyCheckInterval, Events: events, HTTPBodyBudget: cfg.httpBodyBudget, Quotas: cfg.quotas,
		AllowedNetworks: cfg.allowedNetworks,
		Processed:       func(phase domainflow.Phase, n int64) { processed.WithLabelValues(string(phase)).Add(float64(n)) }})
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("start the engine: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := eng.Stop(stopCtx); err != nil {
			log.Warn("engine stop", "err", err)
		}
	}()

	handler, err := server.New(server.Config{Store: db, Engine: eng, Proxies: proxies, Logger: log,
		RateLimit: server.RateLimit{Rate: cfg.rateLimit, Burst: cfg.rateBurst}, Metrics: metrics, Pprof: cfg.pprof,
		Realtime: hub, Events: events, Dashboard: web.Dist(), TrustedProxies: cfg.trustedProxies,
		Quotas: cfg.quotas, WebSockets: hub.TokenConnections, AllowedNetworks: cfg.allowedNetworks})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "url", "http://"+ln.Addr().String(), "database", db.Dialect())
	fmt.Fprintf(stdout, "DomainFlow is serving on http://%s (API docs at /docs)\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// http.Server.Shutdown leaves hijacked connections alone: the hub closes
	// its WebSockets itself (StatusGoingAway).
	hub.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
