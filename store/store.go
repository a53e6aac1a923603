// Package store keeps DomainFlow's data with GORM, on PostgreSQL in
// production or on an embedded SQLite file by default.
//
// Every read and write of a campaign, its domains or a proxy takes the owner's
// user id and puts it in the query itself, so another user's rows are
// indistinguishable from missing ones.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/domainflow/domainflow"
)

// Dialects.
const (
	Postgres = domainflow.DatabasePostgres
	SQLite   = domainflow.DatabaseSQLite
)

// DefaultURL is the embedded default: a SQLite file in the working directory.
const DefaultURL = "sqlite://domainflow.db"

// DB is the store: a GORM handle on one database.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	now     func() time.Time
	// sealer seals and opens secrets; nil until UseSealer, and then a
	// secret can be neither written nor read.
	sealer Sealer
}

// Open connects to the database the URL names: postgres://… or
// postgresql://… for PostgreSQL; sqlite://PATH, file:PATH or a bare path for
// SQLite. It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*DB, error) {
	dialect, dialector, err := dialectorFor(databaseURL)
	if err != nil {
		return nil, err
	}
	g, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 slogLogger{log: log},
		SkipDefaultTransaction: true,
		PrepareStmt:            false, // pgx keeps its own statement cache
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	if err := classifyErrors(g); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if dialect == SQLite {
		// One writer at a time is all SQLite allows; a small pool of readers
		// on WAL keeps pages served while the engine writes.
		sqlDB.SetMaxOpenConns(4)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(32)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	// Microseconds: what PostgreSQL keeps, so a create answers the same
	// times a later read does.
	db := &DB{gorm: g, sql: sqlDB, dialect: dialect, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if err := db.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// DialectOf returns the dialect a database URL names (see Open).
func DialectOf(databaseURL string) (string, error) {
	dialect, _, err := dialectorFor(databaseURL)
	return dialect, err
}

func dialectorFor(databaseURL string) (string, gorm.Dialector, error) {
	if databaseURL == "" {
		databaseURL = DefaultURL
	}
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return Postgres, postgres.Open(withConnectTimeout(databaseURL)), nil
	case strings.Contains(databaseURL, "://") && !strings.HasPrefix(databaseURL, "sqlite://"):
		u, _ := url.Parse(databaseURL)
		scheme := "?"
		if u != nil {
			scheme = u.Scheme
		}
		return "", nil, fmt.Errorf("database URL scheme %q is not supported: use postgres://… or sqlite://PATH", scheme)
	}
	path := sqlitePath(databaseURL)
	if path == "" {
		return "", nil, errors.New("sqlite database URL names no file")
	}
	params := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if strings.Contains(path, "?") {
		path += "&" + params
	} else {
		path += "?" + params
	}
	return SQLite, sqlite.Open("file:" + path), nil
}

// snapshot runs read in one read-only transaction, so that every statement
// in it sees the database as of one moment: a page's campaign row (its
// version, which makes the ETag, and its tallies, which make the total) and
// its rows agree however the engine writes meanwhile, since the engine moves
// rows and tallies in one transaction.
//
// On PostgreSQL that is REPEATABLE READ: one snapshot for the whole
// transaction, taken at its first statement (READ COMMITTED, the default,
// takes one per statement). A read-only transaction there never waits on a
// writer nor fails to serialize.
//
// On SQLite, WAL gives a transaction one snapshot from its first read to its
// end. The DSN's _txlock=immediate makes every BEGIN take the write lock,
// which would queue each page behind the engine's writes; the driver
// (glebarez/go-sqlite) sends a plain, deferred BEGIN for a ReadOnly
// transaction instead, which takes no lock. It has no isolation levels to
// ask for.
func (db *DB) snapshot(ctx context.Context, read func(tx *gorm.DB) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return db.transaction(ctx, read, opts)
}

// sqlitePath is the SQLite URL without its scheme (sqlite:// or file:): a
// path, perhaps followed by ?parameters.
func sqlitePath(databaseURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite://"), "file:")
}

// connectTimeout bounds connecting to PostgreSQL when the URL does not say
// (connect_timeout). Without a bound, a database host that drops packets
// rather than refusing them holds each request for as long as the kernel
// retries its SYN (about two minutes) before the client is told 503.
const connectTimeout = "5"

func withConnectTimeout(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return databaseURL // pgx reports the URL's fault
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return databaseURL
	}
	q.Set("connect_timeout", connectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

// Dialect returns Postgres or SQLite.
func (db *DB) Dialect() string { return db.dialect }

// SQL returns the underlying pool, for tools that need plain database/sql.
func (db *DB) SQL() *sql.DB { return db.sql }

// Gorm returns the GORM handle.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

// Ping checks that the database answers; any failure is EUNAVAILABLE.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return nil
}

// transaction runs fn in a transaction on ctx. BEGIN and COMMIT fail
// outside GORM's callbacks, so their errors are classified here (see
// classifyErrors); fn's statements are classified as they fail.
func (db *DB) transaction(ctx context.Context, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	return unavailable(db.gorm.WithContext(ctx).Transaction(fn, opts...))
}

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// slogLogger sends GORM's warnings and errors to slog; slow queries are
// warnings. Record-not-found is an expected outcome, not an error.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l slogLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(msg, args...))
}
func (l slogLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}
func (l slogLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}
func (l slogLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled):
		q, _ := fc()
		l.log.DebugContext(ctx, "query failed", "sql", clip(q), "err", err, "ms", elapsed.Milliseconds())
	case elapsed > 500*time.Millisecond:
		q, rows := fc()
		l.log.WarnContext(ctx, "slow query", "sql", clip(q), "rows", rows, "ms", elapsed.Milliseconds())
	}
}

// clip keeps log lines short: a batch INSERT written out with its values
// runs to hundreds of kilobytes of domain data.
func clip(q string) string {
	const max = 300
	if len(q) <= max {
		return q
	}
	return q[:max] + fmt.Sprintf("… (%d more bytes)", len(q)-max)
}
