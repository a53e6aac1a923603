package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// childFlag, as the first argument, makes the bench binary the memory
// section's engine process (see childMain). It is not a listed flag.
const childFlag = "-engine-child"

// childSpec is what the child is told, as JSON in its second argument.
type childSpec struct {
	DatabaseURL string        `json:"database_url"`
	UserID      uuid.UUID     `json:"user_id"`
	CampaignID  uuid.UUID     `json:"campaign_id"`
	Timeout     time.Duration `json:"timeout"`
}

// childHeap is the child's Go heap figures at its end.
type childHeap struct {
	Sys, HeapSys, HeapInuse, StackInuse uint64
	NumGC                               uint32
	PauseTotal                          time.Duration
	Goroutines                          int
}

// childHeap is the heap figures an "exit" event of the child carries, nil
// when it has none.
func (e evRec) childHeap() *childHeap {
	if e.Heap == nil {
		return nil
	}
	raw, _ := json.Marshal(e.Heap)
	var h childHeap
	if json.Unmarshal(raw, &h) != nil {
		return nil
	}
	return &h
}

// engineChild prepares this binary, re-executed, as the engine's process
// for spec's campaign; its events arrive as JSON lines on stdout. limit
// bounds it (SIGTERM, SIGKILL 30 s later), and it never outlives the bench.
func engineChild(ctx context.Context, spec childSpec, limit time.Duration) (*exec.Cmd, io.ReadCloser, context.CancelFunc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	raw, _ := json.Marshal(spec)
	cctx, cancel := context.WithTimeout(ctx, limit)
	cmd := exec.CommandContext(cctx, exe, childFlag, string(raw))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return cmd, stdout, cancel, nil
}

// childMain is the engine process of the memory section: it opens the
// database, starts a campaign.Engine, starts and enqueues the campaign and
// prints every engine event as a JSON line on stdout until the campaign
// completes. It dies with the bench (PR_SET_PDEATHSIG) and stops by itself
// after spec.Timeout.
func childMain(arg string) error {
	var spec childSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()

	log := storeLogger()
	db, err := store.Open(ctx, spec.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()

	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(e evRec) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(e)
		out.Flush()
	}
	rss, hwm := procMemory(os.Getpid())
	emit(evRec{T: time.Now(), Type: "started", RSSKB: rss, HWMKB: hwm})
	_, final, _, runErr := runEngineCampaign(ctx, db, spec.DatabaseURL, spec.UserID, spec.CampaignID,
		engineRunOpts{Timeout: spec.Timeout, Log: log, OnEvent: emit})
	if final != nil && final.Status == domainflow.StatusCancelled {
		runErr = nil // the bench cancelled it (-memory-timeout)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm = procMemory(os.Getpid())
	emit(evRec{T: time.Now(), Type: "exit", RSSKB: rss, HWMKB: hwm, Heap: childHeap{Sys: ms.Sys, HeapSys: ms.HeapSys,
		HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, NumGC: ms.NumGC, PauseTotal: time.Duration(ms.PauseTotalNs),
		Goroutines: runtime.NumGoroutine()}})
	return runErr
}

// procMemory reads VmRSS and VmHWM (kB) of a process from /proc.
func procMemory(pid int) (rssKB, hwmKB int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwmKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rssKB, hwmKB
}

// memSample is one 500 ms sample of the child.
type memSample struct {
	T      time.Time
	RSSKB  int64
	Counts domainflow.Counts
	Phase  domainflow.Phase
}

// memReport is the memory section's figures.
type memReport struct {
	Names        int64
	ResolvingPct float64
	Expected     int64
	Samples      []memSample
	Phases       []phaseSpan
	Start        time.Time // the child's "started" line
	StartRSSKB   int64     // the child's RSS with the engine not yet started
	PeakRSSKB    int64     // the most of VmHWM and every sample
	Heap         *childHeap
	Counts       domainflow.Counts
	Total        time.Duration // from the start call to campaign_completed
	Wall         time.Duration // from starting the child to its exit
	// Stopped: the campaign ran past -memory-timeout and the bench cancelled
	// it; the figures are those of the part done.
	Stopped bool
}

// units is the work done at a sample: names generated, checked in DNS,
// fetched in HTTP and scored in analysis.
func units(c domainflow.Counts) int64 {
	return c.Generated + c.DNSOK + c.DNSFailed + c.HTTPOK + c.HTTPFailed + max(0, c.LeadMatch+c.LeadNoMatch-c.DNSFailed)
}

// totalUnits is the campaign's whole work: every name generated and
// DNS-checked, every resolving name fetched and scored.
func (m *memReport) totalUnits() int64 { return 2*m.Names + 2*m.Expected }

// atProgress returns the first sample at or past fraction p of the work.
func (m *memReport) atProgress(p float64) (memSample, bool) {
	total := m.totalUnits()
	for _, s := range m.Samples {
		if float64(units(s.Counts)) >= p*float64(total) {
			return s, true
		}
	}
	return memSample{}, false
}

// phasePeak is the highest RSS sampled during a phase, and the last.
func (m *memReport) phasePeak(p phaseSpan) (peak, last int64) {
	for _, s := range m.Samples {
		if s.T.Before(p.Start) || s.T.After(p.End) {
			continue
		}
		peak = max(peak, s.RSSKB)
		last = s.RSSKB
	}
	return peak, last
}

// goal is the memory section's goal.
func (m *memReport) goal() string {
	return fmt.Sprintf("a %s-domain campaign runs in flat memory: RSS at 90%% of the work within 1.25× of the RSS at 10%%", thousands(m.Names))
}

func (m *memReport) flat() (ok bool, r10, r90 int64, found bool) {
	s10, ok10 := m.atProgress(0.1)
	s90, ok90 := m.atProgress(0.9)
	if !ok10 || !ok90 || s10.RSSKB == 0 {
		return false, 0, 0, false
	}
	return float64(s90.RSSKB) <= 1.25*float64(s10.RSSKB), s10.RSSKB, s90.RSSKB, true
}

func runMemory(ctx context.Context, o options, rep *report) (err error) {
	peers, err := startPeers(o.memResolvingPct)
	if err != nil {
		return err
	}
	defer peers.stop()
	srv := peers.dns

	t, err := openTarget(ctx, o, store.Postgres, true)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	n := o.memDomains
	cfg := peers.config(o, n)
	c, err := t.draftCampaign(ctx, "memory", cfg)
	if err != nil {
		return err
	}
	gen, err := generate.New(cfg.Generation)
	if err != nil {
		return err
	}
	m := &memReport{Names: n, ResolvingPct: o.memResolvingPct, Expected: srv.expectedResolving(gen, n)}
	rep.Memory = m

	// The bench cancels the campaign at -memory-timeout; the child's own
	// limit is a backstop.
	cmd, stdout, cancel, err := engineChild(ctx, childSpec{DatabaseURL: t.url, UserID: t.user.ID, CampaignID: c.ID, Timeout: o.memTimeout + 2*time.Minute},
		o.memTimeout+3*time.Minute)
	if err != nil {
		return err
	}
	defer cancel()
	logf("memory: a campaign of %d names (%d resolve) on PostgreSQL, run by the engine in a child process", n, m.Expected)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid

	// The child's events.
	var (
		mu   sync.Mutex
		evs  []evRec
		read = make(chan error, 1)
	)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e evRec
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue
			}
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
			if e.Type == "phase_transition" {
				logf("  child: phase %s at %s", e.To, e.T.Sub(began).Round(time.Millisecond))
			}
		}
		read <- sc.Err()
	}()

	// Sample the child's RSS and the campaign's counts every 500 ms until
	// it exits.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var waitErr error
	lastLog := time.Now()
sample:
	for {
		select {
		case waitErr = <-exited:
			break sample
		case <-tick.C:
			if !m.Stopped && time.Since(began) > o.memTimeout {
				logf("memory: the campaign has run %s: cancelling it", o.memTimeout)
				if err := cancelCampaign(ctx, t.db, t.user.ID, c.ID); err != nil {
					return err
				}
				m.Stopped = true
			}
			rss, hwm := procMemory(pid)
			if rss == 0 {
				continue
			}
			m.PeakRSSKB = max(m.PeakRSSKB, rss, hwm)
			s := memSample{T: time.Now(), RSSKB: rss}
			if cur, err := t.db.GetCampaign(ctx, t.user.ID, c.ID); err == nil {
				s.Counts, s.Phase = cur.Counts, cur.CurrentPhase
			}
			m.Samples = append(m.Samples, s)
			if time.Since(lastLog) >= 10*time.Second {
				lastLog = time.Now()
				logf("  %s: RSS %.1f MB, phase %s, generated %d, dns %d", s.T.Sub(began).Round(time.Second), float64(rss)/1024,
					s.Phase, s.Counts.Generated, s.Counts.DNSOK+s.Counts.DNSFailed)
			}
		}
	}
	m.Wall = time.Since(began)
	<-read
	mu.Lock()
	defer mu.Unlock()
	final, err := t.db.GetCampaign(ctx, t.user.ID, c.ID)
	if err != nil {
		return err
	}
	m.Counts = final.Counts
	for _, e := range evs {
		switch e.Type {
		case "started":
			m.Start, m.StartRSSKB = e.T, e.RSSKB
		case "exit":
			m.PeakRSSKB = max(m.PeakRSSKB, e.HWMKB)
			if h := e.childHeap(); h != nil {
				m.Heap = h
			}
		}
	}
	m.Phases = phases(evs, final)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == "campaign_completed" && !m.Start.IsZero() {
			m.Total = evs[i].T.Sub(m.Start)
			break
		}
	}
	if m.Stopped && final.Status == domainflow.StatusCancelled {
		m.Total = m.Wall
		logf("memory: stopped at -memory-timeout: peak RSS %.1f MB", float64(m.PeakRSSKB)/1024)
		return nil
	}
	if waitErr != nil {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) || errors.Is(waitErr, context.DeadlineExceeded) {
			return fmt.Errorf("the engine process: %w", waitErr)
		}
		return waitErr
	}
	if final.Status != domainflow.StatusCompleted {
		return fmt.Errorf("the campaign ended %s: %s", final.Status, final.Error)
	}
	ok, r10, r90, _ := m.flat()
	logf("memory: peak RSS %.1f MB; RSS at 10%% %.1f MB, at 90%% %.1f MB (flat: %v); campaign took %s",
		float64(m.PeakRSSKB)/1024, float64(r10)/1024, float64(r90)/1024, ok, m.Total.Round(time.Second))
	return nil
}
