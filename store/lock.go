package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// InstanceLock is a process's claim on a database that only one process may
// serve (see LockInstance).
type InstanceLock struct{ f *os.File }

// errLocked is what lockFile returns when another process holds the lock.
var errLocked = errors.New("locked")

// LockInstance claims the database for this process alone when one process
// is all it can have: a SQLite file. On SQLite the WebSocket events travel
// inside the process (on PostgreSQL, between instances through
// LISTEN/NOTIFY), so a second process on the same file would work campaigns
// whose events only its own clients hear: each dashboard would miss some.
//
// The claim is an exclusive flock on PATH-lock beside the database file
// (named like SQLite's own -wal and -shm). The kernel drops it when the
// process ends in any way, kill -9 included, so a crash never leaves a stale
// lock behind as a pid file would. The file is left in place: removing it
// would let a process that opened it just before lock a file nobody else
// can find. On PostgreSQL, and for an in-memory SQLite database, it claims
// nothing.
func LockInstance(databaseURL string) (*InstanceLock, error) {
	dialect, _, err := dialectorFor(databaseURL)
	if err != nil || dialect != SQLite {
		return &InstanceLock{}, err
	}
	path, ok := SQLiteFile(databaseURL)
	if !ok {
		return &InstanceLock{}, nil
	}
	lockPath := path + "-lock"
	if real, err := filepath.EvalSymlinks(path); err == nil {
		lockPath = real + "-lock" // one lock however the file is reached
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the SQLite database %s: %w", path, err)
	}
	switch err := lockFile(f); {
	case errors.Is(err, errLocked):
		holder := "another DomainFlow instance"
		if b, _ := os.ReadFile(lockPath); len(b) > 0 {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder += fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("the SQLite database %s is in use: %s holds %s. Only one \"serve\" may run on a SQLite file; stop the other one first, or use PostgreSQL to run several instances",
			path, holder, lockPath)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("lock the SQLite database %s: %w", path, err)
	}
	// Who holds it, for the message of the next one to try.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &InstanceLock{f: f}, nil
}

// SQLiteFile returns the path of the file a SQLite database URL names, and
// false for an in-memory database or a URL that names no SQLite file.
func SQLiteFile(databaseURL string) (string, bool) {
	if dialect, _, err := dialectorFor(databaseURL); err != nil || dialect != SQLite {
		return "", false
	}
	path, params, _ := strings.Cut(sqlitePath(databaseURL), "?")
	if path == ":memory:" || strings.Contains(params, "mode=memory") {
		return "", false
	}
	return path, true
}

// Release gives the claim up; the process's end does too.
func (l *InstanceLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
