package tests

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/domainflow/domainflow/store"
)

// On SQLite one "serve" runs per database file: the events of its campaigns
// travel inside the process, so a second one would split them between two
// sets of clients. A second serve refuses to start and says why; the
// administration commands still work beside the running service; and the
// file is free again once the first has stopped, however it stopped.
func TestSQLiteServesOneInstance(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := startServer(t, store.SQLite)
	path := strings.TrimPrefix(s.DBURL, "sqlite://")

	second := func() (exited bool, stderr string, err error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, startTimeout)
		defer cancel()
		var errBuf syncBuffer
		watcher := &stdoutWatcher{log: &errBuf, url: make(chan string, 1)}
		cmd := exec.CommandContext(ctx, binPath, "serve", "--addr", "127.0.0.1:0", "--database-url", s.DBURL)
		cmd.Stdout, cmd.Stderr = watcher, &errBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return true, errBuf.String(), err
		case u := <-watcher.url:
			cancel() // kills it
			<-done
			return false, "serving on " + u + "\n" + errBuf.String(), nil
		case <-ctx.Done():
			<-done
			return false, errBuf.String(), ctx.Err()
		}
	}

	exited, stderr, err := second()
	_, failed := err.(*exec.ExitError)
	switch {
	case !exited:
		t.Errorf("a second serve on %s started (%v); want it refused:\n%s", path, err, stderr)
	case !failed:
		t.Errorf("a second serve on %s exited with %v; want a non-zero status:\n%s", path, err, stderr)
	case !strings.Contains(stderr, path) || !strings.Contains(stderr, "another DomainFlow instance"):
		t.Errorf("a second serve on %s said %q; want the file named and that another instance holds it", path, stderr)
	}

	// The administration commands do not need the lock.
	alice := s.newUser(t, "alice") // token create
	var out bytes.Buffer
	migrate := exec.CommandContext(ctx, binPath, "migrate", "--database-url", s.DBURL)
	migrate.Stdout, migrate.Stderr = &out, &out
	if err := migrate.Run(); err != nil {
		t.Errorf("migrate beside the running service: %v\n%s", err, &out)
	}
	// The refused start left the running one alone, and its token works.
	r, err := alice.api().ListCampaignsWithResponse(ctx, nil)
	checkStatus(t, "list campaigns with the token made beside the service", r, err, 200)

	// kill -9 leaves no stale lock behind, nor does a clean stop.
	s.kill(t)
	s.launch(t)
	s.restart(t)
	r, err = alice.api().ListCampaignsWithResponse(ctx, nil)
	checkStatus(t, "list campaigns after the restarts", r, err, 200)
}
