package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/internal/dnsload"
	"github.com/domainflow/domainflow/store"
)

// The lossy section's goals.
const (
	goalLossyFN   = "DNS validation over a lossy link: 0 false negatives"
	goalLossyTime = "DNS validation over a lossy link: wall time within 1.5× of the faster outside tool's"
	lossyTimeX    = 1.5
)

// lossyZone is the zone the lossy section's names are in: <label>.lossy.test
// (.test is reserved for testing, RFC 6761), so that gobuster dns, which
// takes a domain and a wordlist of labels, asks for the very same names.
const lossyZone = "lossy.test"

// lossyAddrs are the addresses the lossy server tries, in turn: port 53,
// because adns has no way to be told another port, on loopback addresses no
// system resolver is expected on (an address /etc/resolv.conf names is
// skipped).
var lossyAddrs = []string{"127.0.0.53:53", "127.0.53.53:53", "127.53.0.53:53"}

// lossyRcvBuf is the receive buffer the lossy server asks for: adnshost sends
// every name's query at once, and again every 2 s while unanswered, so the
// server must hold a burst of 100,000 queries (about 1 KB of buffer each on
// loopback) without dropping any itself.
const lossyRcvBuf = 256 << 20 // the kernel doubles it

type lossyReport struct {
	Names, Resolving int64
	ResolvingPct     float64
	Losses           []float64 // percent of queries dropped
	Seed             uint64
	Addr             string
	Port53           bool
	RcvBuf           int     // the server socket's receive buffer, as the kernel set it
	Capacity         float64 // the server's queries/s under the raw load loop, nothing dropped
	DNS              domainflow.DNSConfig
	Limit, Budget    time.Duration
	RoundsWanted     int
	Rounds           int // rounds run
	Tools            []*outsideTool
	Runs             []*lossyRun
	Notes            []string
}

// lossyRun is one resolution of the names by one tool at one loss rate.
type lossyRun struct {
	Round   int
	LossPct float64
	Tool    string // "DomainFlow", or an outsideTool's Name
	DB      string // DomainFlow's database
	Checked int64  // names the tool reported on (gave a result for)
	Found   int64  // resolving names it found
	FN      int64  // resolving names it did not find
	Unseen  int64  // of FN: names it never reported on (it was stopped)
	FP      int64  // names it found that do not resolve
	Wall    time.Duration
	Stopped bool // stopped at -lossy-limit
	// At the server, during the run.
	Queries, Dropped int64
	SockDrops        int64 // the kernel dropped at the server's socket (must be 0)
	OtherDrops       int64 // the kernel dropped at other UDP sockets of the machine (the tool's, mostly)
	Statuses         map[string]int64
	Err              string
}

func (r *lossyRun) label() string {
	if r.DB != "" {
		return r.Tool + " on " + r.DB
	}
	return r.Tool
}

// projected is the run's wall time for all n names at the pace it kept, for
// a stopped run.
func (r *lossyRun) projected(n int64) time.Duration {
	if r.Checked <= 0 {
		return 0
	}
	return time.Duration(float64(r.Wall) * float64(n) / float64(r.Checked))
}

// lossyServer is an authServer behind a link that loses a share of the
// queries: the k-th query since reset is dropped (never answered) when the
// k-th number of a SplitMix64 stream seeded with seed falls in the share. It
// answers the others itself from one loop over recvmmsg/sendmmsg, without a
// goroutine per query, on a socket with a receive buffer large enough that
// the kernel drops nothing of its own (sockDrops tells).
type lossyServer struct {
	auth   *authServer
	conn   *net.UDPConn
	addr   string
	host   string
	port53 bool
	inode  uint64
	rcvbuf int
	seed   uint64
	done   chan struct{}
	closed atomic.Bool

	share    atomic.Uint64 // of 1,000,000
	seq      atomic.Uint64
	received atomic.Int64
	dropped  atomic.Int64
}

func startLossyServer(auth *authServer, seed uint64) (*lossyServer, error) {
	skip := map[string]bool{}
	if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil {
		for _, s := range cc.Servers {
			skip[s] = true
		}
	}
	l := &lossyServer{auth: auth, seed: seed, done: make(chan struct{})}
	var errs []error
	for _, a := range lossyAddrs {
		host, _, _ := net.SplitHostPort(a)
		if skip[host] {
			continue
		}
		pc, err := net.ListenPacket("udp4", a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.conn, l.port53 = pc.(*net.UDPConn), true
		break
	}
	if l.conn == nil {
		logf("lossy: cannot listen on port 53 of loopback (%v): adnshost will not run", errors.Join(errs...))
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l.conn = pc.(*net.UDPConn)
	}
	l.addr = l.conn.LocalAddr().String()
	l.host, _, _ = net.SplitHostPort(l.addr)
	rc, err := l.conn.SyscallConn()
	if err != nil {
		l.conn.Close()
		return nil, err
	}
	var forced error
	rc.Control(func(fd uintptr) {
		// Past net.core.rmem_max: needs CAP_NET_ADMIN (the bench runs as root).
		forced = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, lossyRcvBuf)
		if forced != nil {
			l.conn.SetReadBuffer(lossyRcvBuf)
		}
		l.rcvbuf, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		var st syscall.Stat_t
		if syscall.Fstat(int(fd), &st) == nil {
			l.inode = st.Ino
		}
	})
	if forced != nil {
		logf("lossy: SO_RCVBUFFORCE: %v; the receive buffer is %d KB", forced, l.rcvbuf/1024)
	}
	go l.serve()
	return l, nil
}

func (l *lossyServer) stop() {
	l.closed.Store(true)
	l.conn.Close()
	<-l.done
}

// reset starts a run: the drop stream from its start, at lossPct percent.
func (l *lossyServer) reset(lossPct float64) {
	l.share.Store(uint64(lossPct * 10_000))
	l.seq.Store(0)
	l.received.Store(0)
	l.dropped.Store(0)
}

// drop decides the fate of the next query.
func (l *lossyServer) drop() bool {
	k := l.seq.Add(1)
	return splitmix(l.seed+k*0x9e3779b97f4a7c15)%1_000_000 < l.share.Load()
}

func (l *lossyServer) serve() {
	defer close(l.done)
	const batch = 64
	pc := ipv4.NewPacketConn(l.conn)
	in := make([]ipv4.Message, batch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	bufs := make([][]byte, batch)
	out := make([]ipv4.Message, 0, batch)
	var w captureWriter
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.closed.Load() {
				return
			}
			continue
		}
		out = out[:0]
		for i := range n {
			l.received.Add(1)
			if l.drop() {
				l.dropped.Add(1)
				continue
			}
			req := new(dns.Msg)
			if err := req.Unpack(in[i].Buffers[0][:in[i].N]); err != nil {
				continue
			}
			w.msg = nil
			l.auth.ServeDNS(&w, req)
			if w.msg == nil {
				continue
			}
			b, err := w.msg.PackBuffer(bufs[i][:0])
			if err != nil {
				continue
			}
			bufs[i] = b
			out = append(out, ipv4.Message{Buffers: [][]byte{b}, Addr: in[i].Addr})
		}
		for len(out) > 0 {
			k, err := pc.WriteBatch(out, 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || l.closed.Load() {
					return
				}
				k = max(k, 1) // a client gone away: skip its reply
			}
			out = out[k:]
		}
	}
}

// captureWriter is the dns.ResponseWriter authServer.ServeDNS writes its
// reply to: the loop packs and sends it.
type captureWriter struct{ msg *dns.Msg }

func (w *captureWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *captureWriter) LocalAddr() net.Addr       { return nil }
func (w *captureWriter) RemoteAddr() net.Addr      { return nil }
func (w *captureWriter) Write([]byte) (int, error) {
	return 0, errors.New("lossy server: raw writes are not supported")
}
func (w *captureWriter) Close() error        { return nil }
func (w *captureWriter) TsigStatus() error   { return nil }
func (w *captureWriter) TsigTimersOnly(bool) {}
func (w *captureWriter) Hijack()             {}

// sockDrops is the kernel's count of datagrams dropped at the server's
// socket (the drops column of /proc/net/udp): a full receive buffer.
func (l *lossyServer) sockDrops() int64 {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 13 && fs[9] == strconv.FormatUint(l.inode, 10) {
			n, _ := strconv.ParseInt(fs[12], 10, 64)
			return n
		}
	}
	return -1
}

// udpRcvbufErrors is the machine's count of UDP datagrams dropped for a full
// receive buffer (RcvbufErrors in /proc/net/snmp), every socket together.
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var head []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		fs := strings.Fields(line)
		if head == nil {
			head = fs
			continue
		}
		if i := slices.Index(head, "RcvbufErrors"); i > 0 && i < len(fs) {
			n, _ := strconv.ParseInt(fs[i], 10, 64)
			return n
		}
	}
	return -1
}

// lossyMeter notes the server's and the kernel's counters over one run.
type lossyMeter struct {
	srv             *lossyServer
	sock0, machine0 int64
}

func (l *lossyServer) meter(lossPct float64) *lossyMeter {
	l.reset(lossPct)
	return &lossyMeter{srv: l, sock0: l.sockDrops(), machine0: udpRcvbufErrors()}
}

func (m *lossyMeter) fill(r *lossyRun) {
	r.Queries, r.Dropped = m.srv.received.Load(), m.srv.dropped.Load()
	r.SockDrops = m.srv.sockDrops() - m.sock0
	r.OtherDrops = udpRcvbufErrors() - m.machine0 - r.SockDrops
}

// lossyConfig is the section's campaign: DomainFlow's defaults but for the
// resolver and the names (n of them, <4 of a-z0-9>shop.lossy.test).
func lossyConfig(n int64, resolver string) domainflow.CampaignConfig {
	cfg := domainflow.CampaignConfig{
		Generation: domainflow.GenerationConfig{
			PatternType: domainflow.PatternPrefix, ConstantString: "shop",
			CharacterSet: "abcdefghijklmnopqrstuvwxyz0123456789", VariableLength: 4,
			TLDs: []string{"." + lossyZone}, MaxDomains: n,
		},
		DNS:      domainflow.DefaultDNSConfig(),
		HTTP:     domainflow.DefaultHTTPConfig(),
		Analysis: domainflow.DefaultAnalysisConfig(),
	}
	cfg.DNS.Resolvers = []string{resolver}
	return cfg
}

func runLossy(ctx context.Context, o options, rep *report) error {
	began := time.Now()
	// Bounded whatever happens inside: the rounds keep to the budget, each
	// run to the limit; this is the backstop.
	ctx, cancel := context.WithTimeout(ctx, o.lossyBudget+o.lossyLimit+5*time.Minute)
	defer cancel()

	n := o.lossyNames
	lr := &lossyReport{Names: n, ResolvingPct: o.lossyResolvingPct, Losses: o.lossyLosses, Seed: o.lossySeed,
		Limit: o.lossyLimit, Budget: o.lossyBudget, RoundsWanted: o.lossyRounds}
	rep.Lossy = lr

	// The outside tools, installed now if missing.
	lr.Tools = []*outsideTool{adnsTool(), gobusterTool()}
	for _, t := range lr.Tools {
		if err := t.ensure(ctx); err != nil {
			t.Err = err.Error()
			logf("lossy: %s: %v", t.Name, err)
		}
	}

	// The names, and which of them resolve.
	auth := newAuthServer(o.lossyResolvingPct)
	auth.apex = lossyZone
	cfg := lossyConfig(n, "")
	gen, err := generate.New(cfg.Generation)
	if err != nil {
		return err
	}
	if total, _ := generate.Total(cfg.Generation); total < n {
		return fmt.Errorf("the pattern holds only %d names", total)
	}
	names := make([]string, n)
	auth.only = make(map[string]struct{}, n)
	for i := range n {
		names[i], _ = gen.Name(i)
		if !strings.HasSuffix(names[i], "."+lossyZone) {
			return fmt.Errorf("name %q is not in %s", names[i], lossyZone)
		}
		auth.only[names[i]] = struct{}{}
	}
	resolving := make(map[string]bool, n)
	for _, name := range names {
		if auth.resolves(name) {
			resolving[name] = true
		}
	}
	lr.Resolving = int64(len(resolving))

	srv, err := startLossyServer(auth, o.lossySeed)
	if err != nil {
		return err
	}
	defer srv.stop()
	lr.Addr, lr.Port53, lr.RcvBuf = srv.addr, srv.port53, srv.rcvbuf
	if !srv.port53 {
		lr.Notes = append(lr.Notes, "No loopback address had port 53 free, so the server listened on "+srv.addr+" and adnshost, which only talks to port 53, did not run.")
		for _, t := range lr.Tools {
			if t.Name == "adnshost" && t.Err == "" {
				t.Err = "no loopback port 53 to point it at"
			}
		}
	}
	cfg = lossyConfig(n, srv.addr)
	lr.DNS = cfg.DNS
	logf("lossy: server %s (receive buffer %d MB) resolves %d of the %d names (%.1f%%); the rest NXDOMAIN", srv.addr,
		srv.rcvbuf>>20, lr.Resolving, n, 100*float64(lr.Resolving)/float64(n))

	// How fast it answers when it drops nothing.
	srv.reset(0)
	if lr.Capacity, err = dnsload.Capacity(srv.addr, names[:min(len(names), 4096)], time.Second, 4, 64); err != nil {
		return fmt.Errorf("server capacity: %w", err)
	}
	logf("lossy: server capacity %.0f queries/s (nothing dropped)", lr.Capacity)

	dir, err := os.MkdirTemp("", "domainflow-bench-lossy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in := &lossyInput{names: names, resolving: resolving, dir: dir,
		namesFile: filepath.Join(dir, "names.txt"), wordsFile: filepath.Join(dir, "words.txt")}
	if err := in.write(); err != nil {
		return err
	}

	// Tools and DomainFlow alternate; the second round runs them in the
	// other order.
	tools := map[string]*outsideTool{}
	for _, t := range lr.Tools {
		if t.Err == "" {
			tools[t.Name] = t
		}
	}
	type step struct{ tool, dialect string }
	orders := [][]step{
		{{tool: "adnshost"}, {dialect: store.SQLite}, {tool: "gobuster dns"}, {dialect: store.Postgres}},
		{{tool: "gobuster dns"}, {dialect: store.Postgres}, {tool: "adnshost"}, {dialect: store.SQLite}},
	}
	var errs []error
	var lastRound time.Duration
	for round := 1; round <= o.lossyRounds; round++ {
		if round > 1 && time.Since(began)+lastRound > o.lossyBudget {
			lr.Notes = append(lr.Notes, fmt.Sprintf("Round %d did not run: the section had taken %s, and another round of %s would have passed its budget of %s (-lossy-budget).",
				round, secs(time.Since(began)), secs(lastRound), o.lossyBudget))
			logf("lossy: no round %d: %s spent, a round takes %s, budget %s", round, secs(time.Since(began)), secs(lastRound), o.lossyBudget)
			break
		}
		t0 := time.Now()
		for _, loss := range o.lossyLosses {
			for _, s := range orders[(round-1)%2] {
				if err := ctx.Err(); err != nil {
					return errors.Join(append(errs, err)...)
				}
				var r *lossyRun
				var err error
				switch t := tools[s.tool]; {
				case s.dialect != "":
					r, err = lossyDomainFlow(ctx, o, s.dialect, srv, cfg, in, loss)
				case t == nil:
					continue // not there
				case t.Name == "adnshost":
					r, err = in.runAdns(ctx, t, srv, loss, o.lossyLimit)
				default:
					r, err = in.runGobuster(ctx, t, srv, loss, o.lossyLimit)
				}
				r.Round, r.LossPct = round, loss
				if err != nil {
					r.Err = err.Error()
					errs = append(errs, fmt.Errorf("%s, %g%% loss: %w", r.label(), loss, err))
				}
				lr.Runs = append(lr.Runs, r)
				logf("lossy: round %d, %g%% loss, %s: checked %d, found %d of %d, %d false negatives (%d not reached), %d false positives, %s%s; server: %d queries, %d dropped by design, %d by its socket",
					round, loss, r.label(), r.Checked, r.Found, lr.Resolving, r.FN, r.Unseen, r.FP, secs(r.Wall), stoppedWord(r.Stopped), r.Queries, r.Dropped, r.SockDrops)
			}
		}
		lr.Rounds = round
		lastRound = time.Since(t0)
	}
	return errors.Join(errs...)
}

func stoppedWord(stopped bool) string {
	if stopped {
		return " (stopped)"
	}
	return ""
}

// lossyInput is the names, which of them resolve, and the files the outside
// tools read them from.
type lossyInput struct {
	names     []string
	resolving map[string]bool
	dir       string
	namesFile string // one name a line (adnshost -f)
	wordsFile string // one label a line (gobuster's wordlist)
}

func (in *lossyInput) write() error {
	var nb, wb strings.Builder
	for _, name := range in.names {
		nb.WriteString(name)
		nb.WriteByte('\n')
		wb.WriteString(strings.TrimSuffix(name, "."+lossyZone))
		wb.WriteByte('\n')
	}
	if err := os.WriteFile(in.namesFile, []byte(nb.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(in.wordsFile, []byte(wb.String()), 0o644)
}

// score fills r's figures from what a tool found and the names it reported
// on (reported(name) is false for a name it never got to).
func (in *lossyInput) score(r *lossyRun, found map[string]bool, reported func(i int, name string) bool) {
	for name := range found {
		if in.resolving[name] {
			r.Found++
		} else {
			r.FP++
		}
	}
	r.FN = int64(len(in.resolving)) - r.Found
	for i, name := range in.names {
		seen := reported(i, name)
		if seen {
			r.Checked++
		}
		if !seen && in.resolving[name] && !found[name] {
			r.Unseen++
		}
	}
}

// lossyDomainFlow runs the campaign on a fresh database with a real engine,
// cancelled when its DNS phase is over (or has run -lossy-limit), and scores
// the DNS results it recorded.
func lossyDomainFlow(ctx context.Context, o options, dialect string, srv *lossyServer, cfg domainflow.CampaignConfig,
	in *lossyInput, loss float64) (_ *lossyRun, err error) {
	r := &lossyRun{Tool: "DomainFlow", DB: dialectName(dialect), Statuses: map[string]int64{}}
	t, err := openTarget(ctx, o, dialect, true)
	if err != nil {
		return r, err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	c, err := t.draftCampaign(ctx, "lossy", cfg)
	if err != nil {
		return r, err
	}
	logf("lossy: DomainFlow on %s, %g%% loss: a campaign of %d names (dns: timeout %d ms, retries %d, max_attempts %d, concurrency %d)",
		r.DB, loss, c.TotalDomains, cfg.DNS.TimeoutMS, cfg.DNS.Retries, cfg.DNS.MaxAttempts, cfg.DNS.Concurrency)
	m := srv.meter(loss)
	var lastLog time.Time
	evs, _, stopped, err := runEngineCampaign(ctx, t.db, t.url, t.user.ID, c.ID, engineRunOpts{
		Timeout: o.lossyLimit + 3*time.Minute, DNSLimit: o.lossyLimit, StopAfterDNS: true, Log: storeLogger(),
		OnEvent: func(e evRec) {
			if e.Type == "phase_transition" || time.Since(lastLog) > 5*time.Second {
				lastLog = time.Now()
				logf("  %s (phase %s → %s): generated %d, dns %d", e.Type, e.Phase, e.To, e.Counts.Generated, e.Counts.DNSOK+e.Counts.DNSFailed)
			}
		}})
	returned := time.Now()
	m.fill(r)
	r.Stopped = stopped
	// The DNS phase: from the move into it to the move out of it, or, when
	// stopped, to the engine's end (its last batch recorded).
	var start, end time.Time
	for _, e := range evs {
		switch {
		case e.Type == "phase_transition" && e.To == domainflow.PhaseDNS:
			start = e.T
		case e.Type == "phase_transition" && e.From == domainflow.PhaseDNS:
			end = e.T
		}
	}
	if stopped {
		end = returned
	}
	if !start.IsZero() && end.After(start) {
		r.Wall = end.Sub(start)
	}
	if err != nil {
		return r, err
	}

	q := "SELECT name, COALESCE(dns_result->>'status', ''), COALESCE(dns_result->>'reason', '') FROM domains"
	if dialect == store.SQLite {
		q = "SELECT name, COALESCE(json_extract(dns_result, '$.status'), ''), COALESCE(json_extract(dns_result, '$.reason'), '') FROM domains"
	}
	rows, err := t.db.SQL().QueryContext(ctx, q)
	if err != nil {
		return r, fmt.Errorf("read the DNS results: %w", err)
	}
	defer rows.Close()
	found, checked := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var name, status, reason string
		if err := rows.Scan(&name, &status, &reason); err != nil {
			return r, err
		}
		if status == "" {
			continue // never checked
		}
		checked[name] = true
		if status == domainflow.CheckOK {
			found[name] = true
		}
		key := status
		if reason != "" {
			key += "/" + reason
		}
		r.Statuses[key]++
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	in.score(r, found, func(_ int, name string) bool { return checked[name] })
	return r, nil
}

// sortedStatuses lists a run's DNS statuses, the most frequent first.
func sortedStatuses(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s %s", k, thousands(m[k]))
	}
	return out
}

// lineWriter hands complete lines to f as they are written.
type lineWriter struct {
	mu   sync.Mutex
	part []byte
	f    func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := slices.IndexFunc(w.part, func(b byte) bool { return b == '\n' || b == '\r' })
		if i < 0 {
			break
		}
		if i > 0 {
			w.f(string(w.part[:i]))
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.f(string(w.part))
		w.part = nil
	}
}
