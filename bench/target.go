package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/engine"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// target is a fresh, migrated database of one dialect, made for one
// measurement and removed by close: a PostgreSQL database created next to
// -postgres-admin-url, or a SQLite file in a new temporary directory.
type target struct {
	dialect string // store.Postgres or store.SQLite
	url     string
	db      *store.DB
	user    *domainflow.User
	cleanup func() error
}

func dialectName(d string) string {
	if d == store.SQLite {
		return "SQLite"
	}
	return "PostgreSQL"
}

// openTarget makes the database, migrates the store (and, with engine, River's
// tables) and makes the user "bench".
func openTarget(ctx context.Context, o options, dialect string, withEngine bool) (_ *target, err error) {
	t := &target{dialect: dialect}
	switch dialect {
	case store.SQLite:
		dir, err := os.MkdirTemp("", "domainflow-bench-")
		if err != nil {
			return nil, err
		}
		t.url = "sqlite://" + filepath.Join(dir, "bench.db")
		t.cleanup = func() error {
			err := os.RemoveAll(dir)
			if err == nil {
				logf("deleted %s", dir)
			}
			return err
		}
		logf("created SQLite file %s", filepath.Join(dir, "bench.db"))
	default:
		url, drop, err := createDatabase(ctx, o.adminURL)
		if err != nil {
			return nil, err
		}
		t.url, t.cleanup = url, drop
	}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.db, err = store.Open(ctx, t.url, storeLogger()); err != nil {
		return nil, err
	}
	if err := t.db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if withEngine {
		if err := engine.Migrate(ctx, t.db, t.url); err != nil {
			return nil, fmt.Errorf("migrate the job queue: %w", err)
		}
	}
	if t.user, err = t.db.EnsureUser(ctx, "bench"); err != nil {
		return nil, err
	}
	return t, nil
}

// close closes the store and removes the database.
func (t *target) close() error {
	var errs []error
	if t.db != nil {
		errs = append(errs, t.db.Close())
		t.db = nil
	}
	if t.cleanup != nil {
		errs = append(errs, t.cleanup())
		t.cleanup = nil
	}
	return errors.Join(errs...)
}

// draftCampaign stores a draft campaign of cfg for the bench user.
func (t *target) draftCampaign(ctx context.Context, name string, cfg domainflow.CampaignConfig) (*domainflow.Campaign, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("campaign config: %w", err)
	}
	total, err := generate.Total(cfg.Generation)
	if err != nil {
		return nil, err
	}
	if total < cfg.Generation.MaxDomains {
		return nil, fmt.Errorf("the campaign's pattern holds only %d names", total)
	}
	c := &domainflow.Campaign{UserID: t.user.ID, Name: name, Description: "benchmark campaign",
		Status: domainflow.StatusDraft, Config: cfg, TotalDomains: total}
	if err := t.db.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// profiled runs f under a CPU profile written to -profile-dir/name.pprof
// when -profile-dir is set.
func profiled(o options, name string, f func() error) error {
	if o.profileDir == "" {
		return f()
	}
	path := filepath.Join(o.profileDir, name+".pprof")
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	err = f()
	pprof.StopCPUProfile()
	logf("wrote %s", path)
	return err
}

// durQuantile is the nearest-rank quantile of unsorted durations.
func durQuantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return quantile(s, q)
}

// floatQuantile is the nearest-rank quantile of unsorted numbers (the
// median of an even count is the mean of the middle two).
func floatQuantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if q == 0.5 && len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
