// Package storetest gives tests a fresh database of each dialect: a new
// SQLite file, or a new PostgreSQL database created for the test and dropped
// after it. A database is either empty (URL) or a copy of a template that
// was migrated once per test binary (Template.URL, Open), which is much
// cheaper than migrating every test's database.
//
// PostgreSQL is found through DOMAINFLOW_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), a database the
// tests may create other databases from.
//
// Every database a test binary creates on PostgreSQL is named after its run
// (domainflow_test_RUN_N, domainflow_tmpl_RUN_NAME), and the run holds a
// session advisory lock on RUN for as long as the binary lives. So test
// binaries running at once never collide, and the databases of a run that
// was killed (its lock is gone with its session) are dropped by the next run
// that starts.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
)

// Dialects every storage test runs on.
var Dialects = []string{store.SQLite, store.Postgres}

// AdminURL is the PostgreSQL database test databases are created from.
func AdminURL() string {
	if u := os.Getenv("DOMAINFLOW_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// URL returns the URL of a new, empty database of the dialect, removed when
// the test ends.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == store.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "domainflow.db")
	}
	return pgDatabase(t, "")
}

// Open returns a migrated store on a new database of the dialect (a copy of
// a template migrated once per test binary, migrated again: a no-op) that
// seals secrets under Key.
func Open(t testing.TB, dialect string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), schema.URL(t, dialect), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UseSealer(context.Background(), Key); err != nil {
		t.Fatal(err)
	}
	return db
}

// Key is the secret key of the stores Open returns, new for each test
// binary.
var Key = func() *seal.Key {
	k, _, err := seal.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()

// Each runs f once per dialect as a subtest with a fresh store.
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { f(t, Open(t, d)) })
	}
}

// DropTemplates drops the template databases this test binary made; call it
// from TestMain after m.Run. (A binary that does not leaves them to be
// dropped by the next run.)
func DropTemplates() {
	templates.Lock()
	defer templates.Unlock()
	for _, tp := range templates.all {
		tp.drop()
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// schema is the template of Open: the store's migrations.
var schema = NewTemplate("store", func(ctx context.Context, _, databaseURL string) error {
	db, err := store.Open(ctx, databaseURL, discard)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
})

// A Template is a database of each dialect that is made once per test
// binary, the first time a test asks for it, and copied for each test that
// asks: with CREATE DATABASE … TEMPLATE on PostgreSQL, as a file on SQLite.
type Template struct {
	name    string
	migrate func(ctx context.Context, dialect, databaseURL string) error

	mu      sync.Mutex
	dialect map[string]*template
}

// template is a Template made on one dialect.
type template struct {
	once sync.Once
	err  error
	db   string // PostgreSQL: the template database's name
	file []byte // SQLite: the migrated database file
}

var templates struct {
	sync.Mutex
	all []*Template
}

// templateTimeout bounds the making of a template.
const templateTimeout = 2 * time.Minute

// NewTemplate returns a template named name (lower-case letters, digits and
// underscores) that migrate makes from an empty database of the dialect at
// databaseURL. migrate must close every connection it opened to it before it
// returns: PostgreSQL copies a database nobody is connected to.
func NewTemplate(name string, migrate func(ctx context.Context, dialect, databaseURL string) error) *Template {
	if !regexp.MustCompile(`^[a-z0-9_]{1,20}$`).MatchString(name) {
		panic(fmt.Sprintf("storetest: bad template name %q", name))
	}
	tp := &Template{name: name, migrate: migrate, dialect: map[string]*template{}}
	templates.Lock()
	templates.all = append(templates.all, tp)
	templates.Unlock()
	return tp
}

// URL returns the URL of a new database of the dialect that is a copy of
// the template, removed when the test ends. The first call of a binary per
// dialect makes the template; if that fails, every call fails the test.
func (tp *Template) URL(t testing.TB, dialect string) string {
	t.Helper()
	tp.mu.Lock()
	m := tp.dialect[dialect]
	if m == nil {
		m = &template{}
		tp.dialect[dialect] = m
	}
	tp.mu.Unlock()
	m.once.Do(func() { m.err = tp.make(m, dialect) })
	if m.err != nil {
		t.Fatalf("template database %q (%s): %v", tp.name, dialect, m.err)
	}
	if dialect == store.SQLite {
		path := filepath.Join(t.TempDir(), "domainflow.db")
		if err := os.WriteFile(path, m.file, 0o600); err != nil {
			t.Fatal(err)
		}
		return "sqlite://" + path
	}
	return pgDatabase(t, m.db)
}

func (tp *Template) make(m *template, dialect string) error {
	ctx, cancel := context.WithTimeout(context.Background(), templateTimeout)
	defer cancel()
	if dialect == store.SQLite {
		dir, err := os.MkdirTemp("", "domainflow-template-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "template.db")
		if err := tp.migrate(ctx, dialect, "sqlite://"+path); err != nil {
			return err
		}
		// The last connection's close folds the write-ahead log into the
		// file; a log left behind means a connection is still open.
		for _, suffix := range []string{"-wal", "-journal"} {
			if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 {
				return fmt.Errorf("the migrated SQLite file has a non-empty %s file: is a connection to it still open?", suffix)
			}
		}
		m.file, err = os.ReadFile(path)
		return err
	}
	r, err := thisRun()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("domainflow_tmpl_%s_%s", r.id, tp.name)
	if err := adminExec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create the template database (is PostgreSQL running at %s?): %w", AdminURL(), err)
	}
	m.db = name
	if err := tp.migrate(ctx, dialect, pgURL(name)); err != nil {
		return err
	}
	return nil
}

// drop drops the template's PostgreSQL database, if it made one.
func (tp *Template) drop() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for d, m := range tp.dialect {
		if m.db != "" {
			adminExec(context.Background(), "DROP DATABASE IF EXISTS "+m.db+" WITH (FORCE)")
		}
		delete(tp.dialect, d)
	}
}

// pgDatabase creates a PostgreSQL database for the test, empty or a copy of
// the template database, and drops it when the test ends.
func pgDatabase(t testing.TB, template string) string {
	t.Helper()
	r, err := thisRun()
	if err != nil {
		t.Fatalf("PostgreSQL test databases (is PostgreSQL running at %s?): %v", AdminURL(), err)
	}
	name := fmt.Sprintf("domainflow_test_%s_%d", r.id, r.seq.Add(1))
	stmt := "CREATE DATABASE " + name
	if template != "" {
		stmt += " TEMPLATE " + template
	}
	if err := adminExec(context.Background(), stmt); err != nil {
		t.Fatalf("create test database (is PostgreSQL running at %s?): %v", AdminURL(), err)
	}
	t.Cleanup(func() {
		adminExec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return pgURL(name)
}

func pgURL(database string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		panic(fmt.Sprintf("DOMAINFLOW_TEST_POSTGRES_URL: %v", err))
	}
	u.Path = "/" + database
	return u.String()
}

// adminExec runs one statement on AdminURL, on a connection of its own
// (nothing stays open between statements, so no goroutine is left running).
func adminExec(ctx context.Context, stmt string) error {
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// run is this test binary's claim on its database names.
type run struct {
	id   string    // 8 hex digits, in every database name
	lock *pgx.Conn // holds the run's advisory lock until the process exits
	seq  atomic.Int64
}

var (
	runOnce sync.Once
	theRun  *run
	runErr  error
)

// lockClass is the first key of the runs' advisory locks (the second is the
// run id); the two-key lock space is apart from the store's one-key locks.
const lockClass = 0x64667473 // "dfts"

// ourDatabases are the names of the databases runs make: the run id is the
// first group.
var ourDatabases = regexp.MustCompile(`^domainflow_(?:test|tmpl)_([0-9a-f]{8})_[a-z0-9_]+$`)

// thisRun connects to PostgreSQL once per binary, takes a run id that no
// running binary holds, and drops what killed runs left behind.
func thisRun() (*run, error) {
	runOnce.Do(func() { theRun, runErr = startRun() })
	return theRun, runErr
}

func startRun() (*run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), templateTimeout)
	defer cancel()
	// The connection is never closed: the lock goes with the process. An
	// idle pgx connection runs no goroutine.
	lock, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return nil, err
	}
	r := &run{lock: lock}
	for {
		var b [4]byte
		rand.Read(b[:])
		var got bool
		if err := lock.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", lockClass, int32(binary.BigEndian.Uint32(b[:]))).Scan(&got); err != nil {
			lock.Close(context.Background())
			return nil, fmt.Errorf("take the test run's lock: %w", err)
		}
		if got {
			r.id = fmt.Sprintf("%08x", b)
			break
		}
	}
	if err := sweep(ctx, lock, r.id); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: dropping the databases of earlier test runs: %v\n", err)
	}
	return r, nil
}

// sweep drops the databases of runs whose lock nobody holds: their binary
// has exited (killed, or without dropping its templates).
func sweep(ctx context.Context, lock *pgx.Conn, self string) error {
	rows, err := lock.Query(ctx, "SELECT datname FROM pg_database")
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	byRun := map[string][]string{}
	for _, name := range names {
		if m := ourDatabases.FindStringSubmatch(name); m != nil && m[1] != self {
			byRun[m[1]] = append(byRun[m[1]], name)
		}
	}
	var errs []error
	for id, names := range byRun {
		var key uint32
		fmt.Sscanf(id, "%08x", &key)
		var dead bool
		if err := lock.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", lockClass, int32(key)).Scan(&dead); err != nil {
			return err
		}
		if !dead {
			continue // a binary running now
		}
		for _, name := range names {
			if _, err := lock.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := lock.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", lockClass, int32(key)); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}
