package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/domainflow/domainflow"
)

// This file hands a campaign on within seconds when the instance working it
// dies. A campaign's step is a River job that stays "running" while its
// instance lives; River itself rescues such a job only after RescueAfter
// (minutes, as it cannot tell a dead instance from a slow step). So every
// instance heartbeats in the database, and
//
//   - at start, an instance gives back the jobs its previous process (the
//     same instance id) left running: a restart resumes its campaigns at once;
//   - every heartbeat, an instance looks for instances silent for longer
//     than deadAfter and gives their running jobs back to the queue, marking
//     those campaigns stalled until an instance takes them over.
//
// A job given back while its instance was in fact alive (a pause longer
// than deadAfter) is worked twice at worst: the store's guarded writes count
// nothing twice.

const (
	// heartbeatEvery is how often an instance says it is alive and looks
	// for dead ones.
	heartbeatEvery = time.Second
	// deadAfter is how long an instance may be silent before its campaigns
	// are handed on.
	deadAfter = 6 * time.Second
)

// giveBack returns to the queue the campaign steps left running by the
// instance (on SQLite: every running step), and returns their campaigns.
func (e *Engine) giveBack(ctx context.Context, instanceID string) ([]stepArgs, error) {
	// River's tables are the engine's concern; the store never sees them.
	// attempted_by lists the clients that worked the job, the last one the
	// one holding it now.
	q := "UPDATE river_job SET state = 'available' WHERE state = 'running' AND kind = '" + stepArgs{}.Kind() + "'"
	var args []any
	switch {
	case e.db.Dialect() == domainflow.DatabaseSQLite:
		// Only one instance runs on a SQLite file: every running step is
		// a dead process's.
		q += " RETURNING json(args)" // River keeps them as SQLite's binary JSON
	case instanceID != "":
		q += " AND attempted_by[array_length(attempted_by, 1)] = $1 RETURNING args"
		args = append(args, instanceID)
	default:
		q += " RETURNING args"
	}
	rows, err := e.db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("give back the steps of instance %q: %w", instanceID, err)
	}
	defer rows.Close()
	var out []stepArgs
	for rows.Next() {
		var raw sql.RawBytes
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var a stepArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("a campaign step's arguments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// resumeOwn gives back, as the instance starts, the steps its previous
// process left running. On SQLite only one instance ever runs (the file is
// locked), so every running step is a dead process's.
func (e *Engine) resumeOwn(ctx context.Context) error {
	steps, err := e.giveBack(ctx, e.cfg.InstanceID)
	if err != nil {
		return err
	}
	if len(steps) > 0 {
		e.log.Info("resuming the campaigns a previous process left running", "instance_id", e.cfg.InstanceID, "campaigns", len(steps))
	}
	return nil
}

// watch heartbeats for this instance and hands on the campaigns of dead
// ones until ctx ends.
func (e *Engine) watch(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	// healthySince is when this instance's heartbeats last began to get
	// through (the database's clock): after an outage every instance looks
	// silent, and none is judged before it had time to heartbeat again.
	var healthySince int64
	for {
		at, err := e.db.Heartbeat(ctx, e.cfg.InstanceID)
		switch {
		case err != nil:
			if healthySince != 0 && ctx.Err() == nil { // once an outage, not once a second
				e.log.Warn("heartbeat failed: this instance's campaigns may be handed on if it lasts", "instance_id", e.cfg.InstanceID, "err", err)
			}
			healthySince = 0
		case healthySince == 0:
			healthySince = at
		case at-healthySince >= deadAfter.Milliseconds() && e.db.Dialect() != domainflow.DatabaseSQLite:
			if err := e.handOn(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("hand on the campaigns of dead instances", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handOn gives back the steps of every instance silent for deadAfter and
// marks their campaigns stalled until an instance takes them over.
func (e *Engine) handOn(ctx context.Context) error {
	dead, err := e.db.SilentInstances(ctx, deadAfter)
	if err != nil {
		return err
	}
	for _, id := range dead {
		steps, err := e.giveBack(ctx, id)
		if err != nil {
			return err
		}
		e.log.Warn("an instance stopped answering: its campaigns are handed on", "dead_instance_id", id, "campaigns", len(steps))
		for _, s := range steps {
			c, err := e.db.SetStalled(ctx, s.UserID, s.CampaignID, true)
			if err != nil {
				return err
			}
			if c != nil {
				e.emit(domainflow.ProgressEvent(c))
			}
		}
		if err := e.db.ForgetInstance(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
