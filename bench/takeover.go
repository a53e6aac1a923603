package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/gen/client"
	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
)

// The takeover section: how long a campaign stands still when the instance
// working it is killed with SIGKILL, with the service's default settings,
// as its user sees it through the API.
const (
	goalTakeoverRestart = 10 * time.Second
	goalTakeoverPeer    = 30 * time.Second
	// The figures measured before instances heartbeated (River's own
	// rescue of a stuck job, after minutes).
	prevTakeoverRestart = 204 * time.Second
	prevTakeoverPeer    = 183 * time.Second
	// takeoverDeadAfter is engine/instances.go's deadAfter (unexported):
	// how long an instance may be silent before another hands its
	// campaigns on; a peer must have heartbeated that long itself first.
	takeoverDeadAfter = 6 * time.Second
	takeoverPoll      = 50 * time.Millisecond
)

// The takeover cases.
const (
	caseRestart = "restart"
	casePeer    = "second instance"
)

type takeoverReport struct {
	Names     int64
	QPS       int
	Batch     int // names of a DNS batch: progress is written once a batch
	Resolving float64
	Limit     time.Duration
	Build     time.Duration // go build of cmd/domainflow
	Cases     []*takeoverCase
}

// takeoverCase is one kind of takeover on one database.
type takeoverCase struct {
	Kind   string // caseRestart or casePeer
	DB     string
	Rounds []takeoverRound
	Notes  []string // processes that did not stop cleanly, rounds abandoned
}

// takeoverRound is one campaign, started, then its instance killed.
type takeoverRound struct {
	// The baseline: from POST …/start (the campaign fresh) to the first
	// progress the API shows, and to its first DNS result.
	Start, StartDNS time.Duration
	AtKill          int64  // progress.processed at the kill
	Phase           string // the campaign's phase at the kill
	// Kill → the first progress.processed beyond AtKill seen through the
	// API (of the restarted process, or of the second instance).
	Takeover time.Duration
	// Restart: kill → the new process's /readyz answering 200.
	Ready    time.Duration
	Stalled  bool          // GET /campaigns/{id} showed stalled_since meanwhile
	StallFor time.Duration // kill → stalled_since first seen
	TimedOut bool          // nothing moved within the limit
	Log      []string      // what the taking-over process logged about it
}

func (r takeoverRound) afterReady() time.Duration { return r.Takeover - r.Ready }

func (c *takeoverCase) goal() time.Duration {
	if c.Kind == casePeer {
		return goalTakeoverPeer
	}
	return goalTakeoverRestart
}

func (c *takeoverCase) durs(f func(takeoverRound) time.Duration) []time.Duration {
	var out []time.Duration
	for _, r := range c.Rounds {
		out = append(out, f(r))
	}
	return out
}

func (c *takeoverCase) maxTakeover() time.Duration {
	var m time.Duration
	for _, r := range c.Rounds {
		m = max(m, r.Takeover)
	}
	return m
}

// takeover is one run of the section: the binary, the peers the campaigns
// talk to, and the processes' logs.
type takeover struct {
	o      options
	rep    *takeoverReport
	bin    string
	env    []string
	logDir string
	nlogs  int
	host   string
	peers  *peers
	hc     *http.Client
}

func runTakeover(ctx context.Context, o options, rep *report) (err error) {
	tr := &takeoverReport{Names: o.takeoverNames, QPS: o.takeoverQPS, Resolving: 1, Limit: o.takeoverLimit,
		Batch: engineDNSBatch(defaultDNSConcurrency)}
	rep.Takeover = tr
	dir, err := os.MkdirTemp("", "domainflow-takeover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tk := &takeover{o: o, rep: tr, logDir: o.takeoverLogs, hc: &http.Client{Timeout: 5 * time.Second}}
	defer tk.hc.CloseIdleConnections()
	if tk.logDir == "" {
		tk.logDir = dir
	} else if err := os.MkdirAll(tk.logDir, 0o755); err != nil {
		return err
	}
	if tk.host, err = os.Hostname(); err != nil {
		return err
	}
	// Default settings: no DOMAINFLOW_* variable of the bench's own
	// environment reaches the service, only the rate limit turned off (the
	// bench polls faster than a person), loopback opened to the outbound
	// guard (the bench's DNS server is there) and, for PostgreSQL, a secret
	// key (SQLite makes its own beside the file).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOMAINFLOW_") {
			tk.env = append(tk.env, kv)
		}
	}
	_, key, err := seal.Generate()
	if err != nil {
		return err
	}
	tk.env = append(tk.env, "DOMAINFLOW_RATE_LIMIT=0", "DOMAINFLOW_ALLOWED_NETWORKS=127.0.0.0/8", "DOMAINFLOW_SECRET_KEY="+key)

	logf("takeover: building cmd/domainflow")
	t0 := time.Now()
	tk.bin = filepath.Join(dir, "domainflow")
	build := exec.CommandContext(ctx, "go", "build", "-o", tk.bin, "github.com/domainflow/domainflow/cmd/domainflow")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/domainflow: %w\n%s", err, lastLines(out, 20))
	}
	tr.Build = time.Since(t0)
	logf("takeover: built in %s", tr.Build.Round(time.Millisecond))

	if tk.peers, err = startPeers(tr.Resolving); err != nil {
		return err
	}
	defer tk.peers.stop()

	var errs []error
	for _, c := range []struct {
		kind, dialect string
	}{{caseRestart, store.Postgres}, {casePeer, store.Postgres}, {caseRestart, store.SQLite}} {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		tc := &takeoverCase{Kind: c.kind, DB: dialectName(c.dialect)}
		tr.Cases = append(tr.Cases, tc)
		logf("takeover: %s on %s, %d rounds", tc.Kind, tc.DB, o.takeoverRounds)
		if err := tk.runCase(ctx, tc, c.dialect); err != nil {
			errs = append(errs, fmt.Errorf("%s on %s: %w", tc.Kind, tc.DB, err))
		}
	}
	if o.takeoverLogs != "" {
		logf("takeover: the processes' logs are in %s", o.takeoverLogs)
	}
	return errors.Join(errs...)
}

// database makes a fresh database of the dialect and returns its URL and
// how to remove it.
func (tk *takeover) database(ctx context.Context, dialect string) (string, func() error, error) {
	if dialect == store.SQLite {
		dir, err := os.MkdirTemp("", "domainflow-takeover-db-")
		if err != nil {
			return "", nil, err
		}
		logf("created SQLite directory %s", dir)
		return "sqlite://" + filepath.Join(dir, "takeover.db"), func() error {
			err := os.RemoveAll(dir)
			if err == nil {
				logf("deleted %s", dir)
			}
			return err
		}, nil
	}
	return createDatabase(ctx, tk.o.adminURL)
}

// runCase runs the rounds of one case on a fresh database.
func (tk *takeover) runCase(ctx context.Context, tc *takeoverCase, dialect string) (err error) {
	dbURL, drop, err := tk.database(ctx, dialect)
	if err != nil {
		return err
	}
	var procs []*serveProc
	defer func() {
		for _, p := range procs {
			if serr := p.stop(); serr != nil {
				tc.Notes = append(tc.Notes, serr.Error())
				logf("takeover: %v", serr)
			}
		}
		if derr := drop(); derr != nil && err == nil {
			err = derr
		}
	}()

	// The user and its token, as a user makes them (this also migrates the
	// database).
	token, err := tk.tokenCreate(ctx, dbURL)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, dbURL, storeLogger())
	if err != nil {
		return err
	}
	defer db.Close()
	user, err := db.EnsureUser(ctx, "bench")
	if err != nil {
		return err
	}

	start := func(name, addr string) (*serveProc, error) {
		p, err := tk.start(ctx, dbURL, name, addr)
		if p != nil {
			procs = append(procs, p)
		}
		return p, err
	}
	// The process that works the campaigns: restarted on its address each
	// round (restart), or a new one each round beside a second instance
	// that stays (second instance).
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	var cur, peer *serveProc
	if tc.Kind == casePeer {
		peerAddr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		if peer, err = start("B", peerAddr); err != nil {
			return err
		}
		// B has heartbeated long enough to judge others before any round
		// (a peer that just started waits deadAfter first).
		time.Sleep(takeoverDeadAfter + time.Second)
	} else if cur, err = start("1", addr); err != nil {
		return err
	}

	for round := range tk.o.takeoverRounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		if tc.Kind == casePeer {
			// A new instance A, on an address of its own, works the campaign.
			if addr, err = freeLoopbackAddr(); err != nil {
				return err
			}
			if cur, err = start(fmt.Sprintf("A%d", round+1), addr); err != nil {
				return err
			}
		}
		api, err := tk.client(cur.base, token)
		if err != nil {
			return err
		}
		r := takeoverRound{}
		id, err := tk.createCampaign(ctx, api, round)
		if err != nil {
			return err
		}
		if r.Start, r.StartDNS, err = tk.startCampaign(ctx, api, id); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		// Kill while the instance holds the campaign's step.
		if err := tk.waitStep(ctx, db.SQL(), dialect, id, tk.instanceID(cur.addr)); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		killedAt := time.Now()
		if err := cur.kill(); err != nil {
			return err
		}
		c, err := db.GetCampaign(ctx, user.ID, id)
		if err != nil {
			return err
		}
		r.AtKill, _, _ = c.Progress()
		r.Phase = string(c.CurrentPhase)

		// Who carries on: a new process on the same address, or the peer.
		var via *serveProc
		var logFrom int64
		if tc.Kind == casePeer {
			via = peer
			logFrom = peer.logSize()
		} else {
			if via, err = start(fmt.Sprint(round+2), addr); err != nil {
				return fmt.Errorf("round %d: restart: %w", round+1, err)
			}
		}
		viaAPI, err := tk.client(via.base, token)
		if err != nil {
			return err
		}
		if via != peer {
			r.Ready = via.ready.Sub(killedAt)
		}
		if err := tk.waitMoved(ctx, viaAPI, id, killedAt, &r); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		r.Log = logLines(via.logPath, logFrom, killedAt)
		tc.Rounds = append(tc.Rounds, r)
		line := fmt.Sprintf("  round %d: start → first progress %s, → first DNS result %s; kill at %d processed (%s phase) → progress %s",
			round+1, secs(r.Start), secs(r.StartDNS), r.AtKill, r.Phase, secs(r.Takeover))
		if r.TimedOut {
			line = fmt.Sprintf("  round %d: start → first progress %s, → first DNS result %s; kill at %d processed (%s phase) → NO progress within %s",
				round+1, secs(r.Start), secs(r.StartDNS), r.AtKill, r.Phase, tk.o.takeoverLimit)
		}
		if via != peer {
			line += fmt.Sprintf(" (ready %s after the kill)", secs(r.Ready))
		}
		if r.Stalled {
			line += fmt.Sprintf("; stalled_since shown %s after the kill", secs(r.StallFor))
		}
		logf("%s", line)
		if r.TimedOut || r.Takeover > tc.goal() {
			for _, l := range r.Log {
				logf("    %s: %s", via.name, l)
			}
		}
		if err := tk.cancel(ctx, viaAPI, id); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		if tc.Kind == caseRestart {
			cur = via
		}
		if r.TimedOut {
			tc.Notes = append(tc.Notes, fmt.Sprintf("round %d: no progress within %s of the kill; the case's other rounds were not run", round+1, tk.o.takeoverLimit))
			return nil
		}
	}
	return nil
}

// instanceID is what serve names an instance on addr by default.
func (tk *takeover) instanceID(addr string) string { return tk.host + "/" + addr }

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// tokenCreate runs "domainflow token create --user bench": the token is the
// last line of its output.
func (tk *takeover) tokenCreate(ctx context.Context, dbURL string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, tk.bin, "token", "create", "--user", "bench", "--database-url", dbURL)
	cmd.Env = tk.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("domainflow token create: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("domainflow token create printed no token as its last line:\n%s", stdout.String())
	}
	return token, nil
}

func (tk *takeover) client(base, token string) (*client.ClientWithResponses, error) {
	return client.NewClientWithResponses(base, client.WithHTTPClient(tk.hc),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
}

// defaultDNSConcurrency is the campaigns' dns.concurrency: the default.
const defaultDNSConcurrency = 50

// createCampaign creates a draft campaign through the API: names of the
// bench's DNS server (1% resolve, to the page server), DNS at the rate
// limit that makes it last.
func (tk *takeover) createCampaign(ctx context.Context, c *client.ClientWithResponses, round int) (uuid.UUID, error) {
	constant := "shop"
	qps := tk.o.takeoverQPS
	r, err := c.CreateCampaignWithResponse(ctx, api.CampaignCreate{
		Name: fmt.Sprintf("takeover round %d", round+1),
		Generation: api.GenerationConfig{PatternType: api.Prefix, ConstantString: &constant,
			CharacterSet: "abcdefghijklmnopqrstuvwxyz0123456789", VariableLength: 4, Tlds: []string{".com", ".net"},
			MaxDomains: tk.o.takeoverNames},
		Dns:  &api.DNSConfig{Resolvers: &[]string{tk.peers.dns.addr}, RateLimitQps: &qps},
		Http: &api.HTTPConfig{Ports: &[]int{tk.peers.port}, Keywords: &[]string{"shop", "sale"}},
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create a campaign: %w", err)
	}
	if r.JSON201 == nil {
		return uuid.Nil, fmt.Errorf("create a campaign: %d %s", r.StatusCode(), r.Body)
	}
	return r.JSON201.Id, nil
}

// startCampaign starts the campaign and waits for its first progress and
// its first DNS result, both timed from the start call.
func (tk *takeover) startCampaign(ctx context.Context, c *client.ClientWithResponses, id uuid.UUID) (first, firstDNS time.Duration, err error) {
	t0 := time.Now()
	r, err := c.StartCampaignWithResponse(ctx, id)
	if err != nil {
		return 0, 0, fmt.Errorf("start: %w", err)
	}
	if r.JSON200 == nil {
		return 0, 0, fmt.Errorf("start: %d %s", r.StatusCode(), r.Body)
	}
	for deadline := t0.Add(tk.o.takeoverLimit); ; time.Sleep(takeoverPoll) {
		s, err := summary(ctx, c, id)
		if err != nil {
			return 0, 0, err
		}
		if s.Progress.Processed > 0 && first == 0 {
			first = time.Since(t0)
		}
		if s.Dns.Validated+s.Dns.Failed > 0 {
			return first, time.Since(t0), nil
		}
		if s.Status != api.CampaignStatusQueued && s.Status != api.CampaignStatusRunning {
			return 0, 0, fmt.Errorf("the campaign is %s before its first DNS result", s.Status)
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no DNS result within %s of the start (processed %d)", tk.o.takeoverLimit, s.Progress.Processed)
		}
	}
}

func summary(ctx context.Context, c *client.ClientWithResponses, id uuid.UUID) (*api.StatusSummary, error) {
	r, err := c.GetDomainStatusSummaryWithResponse(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	if r.JSON200 == nil {
		return nil, fmt.Errorf("status summary: %d %s", r.StatusCode(), r.Body)
	}
	return r.JSON200, nil
}

// waitStep waits until the campaign's step job is running, on the instance
// holder (PostgreSQL; on SQLite only one instance runs).
func (tk *takeover) waitStep(ctx context.Context, db *sql.DB, dialect string, id uuid.UUID, holder string) error {
	q := "SELECT state, COALESCE(attempted_by[array_length(attempted_by, 1)], '') FROM river_job " +
		"WHERE kind = 'campaign_step' AND args->>'campaign_id' = $1 ORDER BY id DESC LIMIT 1"
	if dialect == store.SQLite {
		q = "SELECT state, '' FROM river_job WHERE kind = 'campaign_step' AND json_extract(args, '$.campaign_id') = ? ORDER BY id DESC LIMIT 1"
		holder = ""
	}
	var state, by string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		err := db.QueryRowContext(ctx, q, id.String()).Scan(&state, &by)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read river_job: %w", err)
		}
		if state == "running" && (holder == "" || by == holder) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the campaign's step was not running on %s within 2 minutes (state %q, last worked by %q)", holder, state, by)
		}
	}
}

// waitMoved polls the API until the campaign's progress passes r.AtKill,
// noting when the process answers /readyz (a restart) and whether the
// campaign shows stalled_since meanwhile.
func (tk *takeover) waitMoved(ctx context.Context, c *client.ClientWithResponses, id uuid.UUID, killedAt time.Time, r *takeoverRound) error {
	deadline := killedAt.Add(tk.o.takeoverLimit)
	for ; ; time.Sleep(takeoverPoll) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			r.TimedOut = true
			r.Takeover = tk.o.takeoverLimit
			return nil
		}
		g, err := c.GetCampaignWithResponse(ctx, id, nil)
		if err != nil {
			return err
		}
		if g.JSON200 == nil {
			return fmt.Errorf("get the campaign: %d %s", g.StatusCode(), g.Body)
		}
		if g.JSON200.StalledSince != nil && !r.Stalled {
			r.Stalled, r.StallFor = true, time.Since(killedAt)
		}
		s, err := summary(ctx, c, id)
		if err != nil {
			return err
		}
		if s.Progress.Processed > r.AtKill {
			r.Takeover = time.Since(killedAt)
			return nil
		}
		if s.Status != api.CampaignStatusQueued && s.Status != api.CampaignStatusRunning {
			return fmt.Errorf("the campaign is %s, with no progress after the kill", s.Status)
		}
	}
}

func (tk *takeover) cancel(ctx context.Context, c *client.ClientWithResponses, id uuid.UUID) error {
	r, err := c.CancelCampaignWithResponse(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if r.JSON200 == nil && r.StatusCode() != http.StatusConflict { // 409: it ended meanwhile
		return fmt.Errorf("cancel: %d %s", r.StatusCode(), r.Body)
	}
	return nil
}

// serveProc is one "domainflow serve" process.
type serveProc struct {
	name    string
	addr    string
	base    string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's; read after done
	logPath string
	logFile *os.File
	ready   time.Time // /readyz first answered 200
	ended   bool      // killed or stopped
}

// start starts "domainflow serve" on addr and waits until /readyz answers
// 200. The process dies with the bench.
func (tk *takeover) start(ctx context.Context, dbURL, name, addr string) (*serveProc, error) {
	tk.nlogs++
	path := filepath.Join(tk.logDir, fmt.Sprintf("%02d-serve-%s.log", tk.nlogs, strings.ReplaceAll(name, " ", "-")))
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(tk.bin, "serve", "--addr", addr, "--database-url", dbURL)
	cmd.Env = tk.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	p := &serveProc{name: name, addr: addr, base: "http://" + addr, cmd: cmd, done: make(chan struct{}), logPath: path, logFile: f}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start domainflow serve: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/readyz", nil)
		resp, err := tk.hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Now()
				return p, nil
			}
		}
		select {
		case <-p.done:
			p.ended = true
			return p, fmt.Errorf("domainflow serve %s exited before it was ready: %v\n%s", name, p.err, logTail(path, 10))
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("domainflow serve %s: /readyz did not answer 200 within a minute\n%s", name, logTail(path, 10))
		}
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits until it is gone.
func (p *serveProc) kill() error {
	p.ended = true
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL domainflow serve %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("domainflow serve %s did not die within 10 s of SIGKILL", p.name)
	}
}

// stop stops a process still running with SIGTERM (SIGKILL after 30 s) and
// says when it did not exit cleanly.
func (p *serveProc) stop() error {
	if p.ended {
		return nil
	}
	p.ended = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("domainflow serve %s exited with %v on SIGTERM", p.name, p.err)
		}
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("domainflow serve %s did not exit within 30 s of SIGTERM", p.name)
	}
}

func (p *serveProc) logSize() int64 {
	fi, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logLines returns what a process logged from byte offset from on about
// taking campaigns over, and its warnings and errors, each with its time
// relative to the kill.
func logLines(path string, from int64, killedAt time.Time) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && len(out) < 12 {
		line := sc.Text()
		if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") &&
			!strings.Contains(line, "resuming") && !strings.Contains(line, "handed on") {
			continue
		}
		rel := ""
		if ts, rest, ok := strings.Cut(strings.TrimPrefix(line, "time="), " "); ok && strings.HasPrefix(line, "time=") {
			if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				rel = fmt.Sprintf("%+.1fs ", t.Sub(killedAt).Seconds())
				line = rest
			}
		}
		if len(line) > 240 {
			line = line[:240] + "…"
		}
		out = append(out, rel+line)
	}
	return out
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLines(b, n)
}
