package store

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// The quotas kept in the database — running campaigns, stored domains,
// proxies — hold for every instance sharing it. Each check and the write it
// guards run in one transaction that first takes the user's lock (lockUser),
// so two calls of one user, on any instances, are checked one after the
// other: two concurrent starts at the limit cannot both pass.

// lockUser holds the user's row until the transaction ends (PostgreSQL: FOR
// NO KEY UPDATE, which the foreign-key checks of new campaigns, proxies and
// tokens do not wait for). SQLite needs nothing: every write transaction
// holds the database's write lock from its BEGIN (_txlock=immediate).
func (db *DB) lockUser(tx *gorm.DB, userID uuid.UUID) error {
	if db.dialect != Postgres {
		return nil
	}
	var ids []string
	return tx.Raw("SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE", userID).Scan(&ids).Error
}

// campaignUsage returns how many of the user's campaigns are queued or
// running, and the sum of the total_domains of all of them: one pass over
// the user's campaigns (never over their domains).
func campaignUsage(tx *gorm.DB, userID uuid.UUID) (running, stored int64, err error) {
	var u struct{ Running, Stored int64 }
	err = tx.Raw(`SELECT COALESCE(SUM(CASE WHEN status IN (?, ?) THEN 1 ELSE 0 END), 0) AS running,
		COALESCE(SUM(total_domains), 0) AS stored FROM campaigns WHERE user_id = ?`,
		string(domainflow.StatusQueued), string(domainflow.StatusRunning), userID).Scan(&u).Error
	return u.Running, u.Stored, err
}

func proxyCount(tx *gorm.DB, userID uuid.UUID) (int64, error) {
	var n int64
	err := tx.Model(&proxyRow{}).Where("user_id = ?", userID).Count(&n).Error
	return n, err
}

// Usage returns what the user has of the quotas kept in the database, as of
// one moment. (WebSockets are counted by the instances that hold them.)
func (db *DB) Usage(ctx context.Context, userID uuid.UUID) (domainflow.Usage, error) {
	var u domainflow.Usage
	err := db.snapshot(ctx, func(tx *gorm.DB) error {
		var err error
		if u.RunningCampaigns, u.StoredDomains, err = campaignUsage(tx, userID); err != nil {
			return err
		}
		u.Proxies, err = proxyCount(tx, userID)
		return err
	})
	return u, err
}

// CreateCampaignWithin is CreateCampaign within the user's quotas: the
// campaign's total_domains must fit in StoredDomains beside those of the
// user's other campaigns (EQUOTASTORED), and a campaign created queued (to
// start at once) must fit in RunningCampaigns (EQUOTARUNNING). A refused
// campaign is not stored.
func (db *DB) CreateCampaignWithin(ctx context.Context, c *domainflow.Campaign, q domainflow.Quotas) error {
	queued := c.Status == domainflow.StatusQueued || c.Status == domainflow.StatusRunning
	if q.StoredDomains == 0 && (q.RunningCampaigns == 0 || !queued) {
		return db.CreateCampaign(ctx, c)
	}
	row, err := db.newCampaignRow(c)
	if err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.lockUser(tx, c.UserID); err != nil {
			return err
		}
		running, stored, err := campaignUsage(tx, c.UserID)
		if err != nil {
			return err
		}
		if err := q.CheckStoredDomains(stored, c.TotalDomains); err != nil {
			return err
		}
		if queued {
			if err := q.CheckRunningCampaigns(running); err != nil {
				return err
			}
		}
		return db.insertCampaign(tx, &row, c)
	})
}

// TransitionWithin is Transition within the user's quotas: a call that
// queues the campaign (start, resume) is refused when the user's queued and
// running campaigns are at RunningCampaigns already (EQUOTARUNNING), or
// when their campaigns, this one included, hold more than StoredDomains
// (EQUOTASTORED: the operator lowered it since). A missing campaign is still
// ENOTFOUND and a status that does not allow the call ECONFLICT, before any
// quota.
func (db *DB) TransitionWithin(ctx context.Context, userID, id uuid.UUID, action domainflow.Action, q domainflow.Quotas) (*domainflow.Campaign, error) {
	from, to := domainflow.Transition(action)
	if to != domainflow.StatusQueued || (q.RunningCampaigns == 0 && q.StoredDomains == 0) {
		return db.Transition(ctx, userID, id, action)
	}
	var c *domainflow.Campaign
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.lockUser(tx, userID); err != nil {
			return err
		}
		var row campaignRow
		err := tx.Select("status", "total_domains").Where("id = ? AND user_id = ?", id, userID).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errCampaignNotFound
		} else if err != nil {
			return err
		}
		if status := domainflow.CampaignStatus(row.Status); !slices.Contains(from, status) {
			return domainflow.IllegalTransition(action, status)
		}
		running, stored, err := campaignUsage(tx, userID)
		if err != nil {
			return err
		}
		if err := q.CheckStoredDomains(stored-row.TotalDomains, row.TotalDomains); err != nil {
			return err
		}
		if err := q.CheckRunningCampaigns(running); err != nil {
			return err
		}
		c, err = db.transition(tx, userID, id, action)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CreateProxyWithin is CreateProxy within the user's Proxies quota
// (EQUOTAPROXIES). A refused proxy is not stored.
func (db *DB) CreateProxyWithin(ctx context.Context, p *domainflow.Proxy, q domainflow.Quotas) error {
	if q.Proxies == 0 {
		return db.CreateProxy(ctx, p)
	}
	row, err := db.newProxyRow(p)
	if err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.lockUser(tx, p.UserID); err != nil {
			return err
		}
		n, err := proxyCount(tx, p.UserID)
		if err != nil {
			return err
		}
		if err := q.CheckProxies(n); err != nil {
			return err
		}
		return db.insertProxy(tx, &row, p)
	})
}
