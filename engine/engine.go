// Package engine is the engine that runs campaigns: generation, DNS
// validation, HTTP validation and lead scoring, in that order.
//
// The work of a campaign is one River job. Each time the job runs it does a
// bounded step (a few seconds of work), records it in the database, and
// snoozes itself so that any instance may pick up the next step. All progress
// lives in the database — the generation checkpoint is the campaign's count
// of generated rows, and each validation phase picks the rows it has not
// processed yet — so a step that is cut off (a crash, kill -9, a shutdown) is
// simply done again by whichever instance River hands the job to next, and
// the store's guarded writes make a repeated step count nothing twice.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
	"github.com/domainflow/domainflow/netguard"
)

// Store is what the engine needs of the database. River runs on the same
// database: on SQLite it shares the store's *sql.DB, on PostgreSQL it gets
// its own pgx pool on Config.DatabaseURL.
type Store interface {
	Dialect() string // domainflow.DatabasePostgres or DatabaseSQLite
	SQL() *sql.DB

	// CreateCampaignWithin stores a new campaign (a draft, or queued to
	// start at once) if the user's quotas allow it, checked against the
	// user's other campaigns in the same transaction.
	CreateCampaignWithin(ctx context.Context, c *domainflow.Campaign, q domainflow.Quotas) error
	GetCampaign(ctx context.Context, userID, id uuid.UUID) (*domainflow.Campaign, error)
	// TransitionWithin makes a lifecycle call's move, if the status allows
	// it and, for a move that queues the campaign, the user's quotas do.
	TransitionWithin(ctx context.Context, userID, id uuid.UUID, action domainflow.Action, q domainflow.Quotas) (*domainflow.Campaign, error)
	// Advance records the engine's move, only while the campaign's status
	// is one of from; it reports whether it moved.
	Advance(ctx context.Context, userID, id uuid.UUID, from []domainflow.CampaignStatus, m domainflow.CampaignMove) (bool, error)
	DeleteCampaign(ctx context.Context, userID, id uuid.UUID) error
	// SetWildcards records what the checks before the DNS phase found.
	SetWildcards(ctx context.Context, userID, id uuid.UUID, zones []domainflow.WildcardZone, resolvers []domainflow.ResolverStats) error
	// SaveResolvers records the resolvers' figures (not domain data).
	SaveResolvers(ctx context.Context, userID, id uuid.UUID, resolvers []domainflow.ResolverStats) error
	// Heartbeat records that the instance lives and returns the database's
	// clock in milliseconds; SilentInstances are those whose last
	// heartbeat is older than silence; ForgetInstance removes one.
	Heartbeat(ctx context.Context, instanceID string) (int64, error)
	SilentInstances(ctx context.Context, silence time.Duration) ([]string, error)
	ForgetInstance(ctx context.Context, instanceID string) error
	// SetStalled marks a queued or running campaign stalled or no longer
	// stalled, and returns it when that changed it.
	SetStalled(ctx context.Context, userID, id uuid.UUID, stalled bool) (*domainflow.Campaign, error)
	// RunnableCampaigns are every user's queued and running campaigns.
	RunnableCampaigns(ctx context.Context) ([]domainflow.Campaign, error)

	// InsertDomains adds generated rows (skipping those already there) and
	// returns how many were new and the campaign as the write committed it;
	// domainflow.ErrStopped once the campaign was stopped.
	InsertDomains(ctx context.Context, userID, campaignID uuid.UUID, domains []domainflow.Domain) (int64, *domainflow.Campaign, error)
	// PendingWork returns up to limit domains the phase has not processed,
	// in offset_index order after offset_index `after` (-1: the start).
	PendingWork(ctx context.Context, userID, campaignID uuid.UUID, phase domainflow.Phase, after int64, limit int) ([]domainflow.PendingDomain, error)
	// Record writes outcomes of rows the phase has not processed yet and
	// returns how many were written and the campaign as the write committed
	// it; domainflow.ErrStopped once the campaign was stopped.
	Record(ctx context.Context, userID, campaignID uuid.UUID, phase domainflow.Phase, outs []domainflow.DomainOutcome) (int64, *domainflow.Campaign, error)

	ListProxies(ctx context.Context, userID uuid.UUID) ([]*domainflow.Proxy, error)
	MissingProxies(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error)
	EnabledProxies(ctx context.Context) ([]*domainflow.Proxy, error)
	// SetProxyHealth writes only p's health fields, only while the proxy is
	// still what was checked, and reports whether it wrote.
	SetProxyHealth(ctx context.Context, p *domainflow.Proxy) (bool, error)
}

// Config is what an Engine needs.
type Config struct {
	Store       Store
	DatabaseURL string // PostgreSQL: River gets its own pgx pool on it
	Logger      *slog.Logger

	// StepTime bounds one step of a campaign (default 5s).
	StepTime time.Duration
	// JobTimeout cancels a step that overruns (default DefaultJobTimeout). A
	// campaign whose checks may take longer fails.
	JobTimeout time.Duration
	// RescueAfter is how long a step may look stuck (its instance died)
	// before another instance takes the campaign over (default 3m; must be
	// more than JobTimeout).
	RescueAfter time.Duration
	// InstanceID names this instance among those sharing the database
	// (required); it must be unique among them, and stay the same across
	// restarts so that a restarted instance resumes its own campaigns at
	// once.
	InstanceID string
	// Campaigns is how many campaigns one instance works at once (default 4).
	Campaigns int
	// Events receives what happens to campaigns and proxies, for the
	// users' WebSocket clients; nil drops them.
	Events func(domainflow.Event)
	// Processed counts the domains each phase writes (for metrics); nil
	// counts nothing.
	Processed func(phase domainflow.Phase, n int64)
	// Proxies checks proxies every ProxyCheckInterval (default 1m); nil
	// turns the background health check off.
	Proxies            ProxyChecker
	ProxyCheckInterval time.Duration
	// HTTPBodyBudget bounds the bytes of pages that every HTTP check of this
	// instance, of every campaign, holds at once (default
	// httpcheck.DefaultBodyBudget); checks wait for room.
	HTTPBodyBudget int64
	// Quotas bound what each user may have (zero: no limit): a create or
	// lifecycle call past one is refused with its quota's code. The store
	// checks them in the database, so every instance should be given the
	// same.
	Quotas domainflow.Quotas
	// AllowedNetworks are the ranges the outbound guard (package netguard)
	// opens on top of what it lets through by default: campaigns fetch
	// pages and ask resolvers only at addresses it allows. Empty: no
	// loopback, private, link-local or other special-purpose address.
	// (Proxies checks proxies with its own guard.)
	AllowedNetworks []netip.Prefix
}

// DefaultJobTimeout is the job timeout unless Config says otherwise (2m):
// the longest check a campaign may have (domainflow.MaxCheckTime, which
// creating a campaign enforces) and time for the step's writes, so every
// campaign accepted can run.
const DefaultJobTimeout = domainflow.MaxCheckTime + 30*time.Second

// Engine runs campaigns.
type Engine struct {
	cfg   Config
	db    Store
	log   *slog.Logger
	queue queue
	stop  func()
	// stopWatch ends the heartbeat; nil before Start.
	stopWatch func()
	failures  failures
	bodies    *httpcheck.Budget // shared by the HTTP checkers of every campaign
	guard     *netguard.Guard   // where campaigns may connect
}

// queue is the part of a River client the engine uses; the client's type
// depends on the database driver.
type queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// stepArgs is the job of one campaign. It is unique per campaign while it is
// waiting or running, so enqueueing a campaign twice is harmless.
type stepArgs struct {
	CampaignID uuid.UUID `json:"campaign_id"`
	UserID     uuid.UUID `json:"user_id"`
}

func (stepArgs) Kind() string { return "campaign_step" }

func (stepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: 25, UniqueOpts: unique}
}

// unique makes a job unique by its arguments among the jobs that are
// waiting or running — not the completed ones, or a campaign whose job ended
// (paused) could never be enqueued again, nor a periodic job run twice.
var unique = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}}

// sweepArgs is the periodic job that makes sure every queued or running
// campaign has its job (a start whose enqueue was lost to a crash, say).
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "campaign_sweep" }

const queueName = "campaigns"

// Migrate brings River's tables up to date on the store's database.
func Migrate(ctx context.Context, db Store, databaseURL string) error {
	switch db.Dialect() {
	case domainflow.DatabaseSQLite:
		return migrate(ctx, riversqlite.New(db.SQL()))
	default:
		pool, err := pgxpool.New(ctx, databaseURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		return migrate(ctx, riverpgxv5.New(pool))
	}
}

func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// New makes an engine; Start starts working.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.StepTime <= 0 {
		cfg.StepTime = 5 * time.Second
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 3 * time.Minute
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, fmt.Errorf("rescue delay %s must be longer than the job timeout %s", cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.Campaigns <= 0 {
		cfg.Campaigns = 4
	}
	if cfg.ProxyCheckInterval <= 0 {
		cfg.ProxyCheckInterval = time.Minute
	}
	if cfg.InstanceID == "" {
		// No default here: it must be unique among the instances and the
		// same across restarts, which only the caller can know (serve makes
		// it of the host and the address it holds).
		return nil, errors.New("the engine needs an instance id")
	}
	if len(cfg.InstanceID) > 100 {
		return nil, fmt.Errorf("instance id %q is longer than 100 characters", cfg.InstanceID)
	}
	e := &Engine{cfg: cfg, db: cfg.Store, log: cfg.Logger, stop: func() {}, bodies: httpcheck.NewBudget(cfg.HTTPBodyBudget),
		guard: netguard.New(cfg.AllowedNetworks)}

	workers := river.NewWorkers()
	river.AddWorker(workers, &stepWorker{e: e})
	river.AddWorker(workers, &sweepWorker{e: e})
	river.AddWorker(workers, &proxyHealthWorker{e: e})
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(15*time.Second),
		func() (river.JobArgs, *river.InsertOpts) {
			return sweepArgs{}, &river.InsertOpts{Queue: queueName, UniqueOpts: unique}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
	if cfg.Proxies != nil {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.ProxyCheckInterval),
			func() (river.JobArgs, *river.InsertOpts) {
				return proxyHealthArgs{}, &river.InsertOpts{Queue: queueName, UniqueOpts: unique}
			}, nil)) // first after one interval: a restart need not check every proxy at once
	}
	rc := &river.Config{
		ID:                   cfg.InstanceID,
		Logger:               cfg.Logger.With("component", "river"),
		Queues:               map[string]river.QueueConfig{queueName: {MaxWorkers: cfg.Campaigns}},
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    250 * time.Millisecond,
		FetchCooldown:        50 * time.Millisecond,
		PeriodicJobs:         periodic,
	}
	var err error
	switch cfg.Store.Dialect() {
	case domainflow.DatabaseSQLite:
		e.queue, err = river.NewClient(riversqlite.New(cfg.Store.SQL()), rc)
	default:
		var pool *pgxpool.Pool
		pool, err = pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		e.stop = pool.Close
		e.queue, err = river.NewClient(riverpgxv5.New(pool), rc)
	}
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// Start resumes the campaigns this instance's previous process left
// running, then starts working campaigns and watching for dead instances.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.resumeOwn(ctx); err != nil {
		return err
	}
	if err := e.queue.Start(ctx); err != nil {
		return err
	}
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.watch(watchCtx)
	}()
	e.stopWatch = func() {
		cancel()
		<-done
	}
	return nil
}

// Stop stops taking steps and waits for the running ones to end (each ends
// at its next batch and is picked up again later), then leaves the
// instances' list.
func (e *Engine) Stop(ctx context.Context) error {
	err := e.queue.Stop(ctx)
	if e.stopWatch != nil {
		e.stopWatch()
		// Only an instance whose steps all ended leaves the list: one that
		// left steps running keeps its row, which goes silent, so that
		// another instance hands those steps on.
		if err == nil {
			err = e.db.ForgetInstance(ctx, e.cfg.InstanceID)
		}
	}
	e.stop()
	return err
}

// Enqueue makes sure the campaign has its job.
func (e *Engine) Enqueue(ctx context.Context, c *domainflow.Campaign) error {
	_, err := e.queue.Insert(ctx, stepArgs{CampaignID: c.ID, UserID: c.UserID}, nil)
	return err
}

func (e *Engine) processed(phase domainflow.Phase, n int64) {
	if e.cfg.Processed != nil && n > 0 {
		e.cfg.Processed(phase, n)
	}
}

func (e *Engine) emit(ev domainflow.Event) {
	if e.cfg.Events != nil {
		e.cfg.Events(ev)
	}
}

// changed tells the clients of c's owner its state: its progress, that its
// domains changed, and its end when it has ended. c is a state that was
// committed: events follow the writes they announce, never precede them.
func (e *Engine) changed(c *domainflow.Campaign) {
	e.emit(domainflow.ProgressEvent(c))
	e.emit(domainflow.DomainsChangedEvent(c))
	if c.Status.Ended() {
		e.emit(domainflow.CompletedEvent(c))
	}
}

type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	e *Engine
}

// Work does one step; while the campaign has more to do it snoozes the job
// so that the next step may run on any instance.
func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	more, err := w.e.step(ctx, job.Args.UserID, job.Args.CampaignID)
	switch {
	case domainflow.ErrorCode(err) == domainflow.ENOTFOUND:
		w.e.failures.reset(job.Args.CampaignID)
		return nil // deleted while the step ran
	case err != nil && ctx.Err() != nil:
		// Shutting down or timed out mid-step: nothing is lost, go on later.
		return river.JobSnooze(0)
	case errors.As(err, new(permanent)):
		w.e.log.Error("campaign cannot run", "campaign_id", job.Args.CampaignID, "err", err)
		w.e.failures.reset(job.Args.CampaignID)
		w.e.fail(context.WithoutCancel(ctx), job.Args.UserID, job.Args.CampaignID, err)
		return river.JobCancel(err)
	case err != nil:
		// A step that failed is tried again after a short pause that grows
		// with the failures in a row, not with every failure of the
		// campaign's life (River's own retries would: a campaign is one
		// long job). A database that is down is waited for however long;
		// any other error fails the campaign once it repeats maxFailures
		// times in a row.
		n := w.e.failures.add(job.Args.CampaignID)
		down := unavailable(err)
		w.e.log.Error("campaign step failed", "campaign_id", job.Args.CampaignID, "failures_in_a_row", n, "database_unavailable", down, "err", err)
		if !down && n >= maxFailures {
			w.e.failures.reset(job.Args.CampaignID)
			w.e.fail(context.WithoutCancel(ctx), job.Args.UserID, job.Args.CampaignID, err)
			return river.JobCancel(err)
		}
		return river.JobSnooze(retryDelay(n))
	}
	w.e.failures.reset(job.Args.CampaignID)
	if more {
		return river.JobSnooze(0)
	}
	return nil
}

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	e *Engine
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	cs, err := w.e.db.RunnableCampaigns(ctx)
	if err != nil {
		return err
	}
	for i := range cs {
		if err := w.e.Enqueue(ctx, &cs[i]); err != nil {
			return err
		}
	}
	return nil
}

// fail marks a campaign failed after its job gave up.
func (e *Engine) fail(ctx context.Context, userID, id uuid.UUID, cause error) {
	moved, err := e.db.Advance(ctx, userID, id, []domainflow.CampaignStatus{domainflow.StatusQueued, domainflow.StatusRunning},
		domainflow.CampaignMove{Status: domainflow.StatusFailed, Error: cause.Error()})
	if err != nil || !moved {
		return
	}
	if c, err := e.db.GetCampaign(ctx, userID, id); err == nil {
		e.emit(domainflow.FailedEvent(c, cause.Error()))
		e.changed(c)
	}
}
