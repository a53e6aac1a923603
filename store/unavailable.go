package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// errUnavailable is what a client is told while the database cannot be
// reached: the request itself may be fine, so it is worth sending again.
var errUnavailable = domainflow.Errorf(domainflow.EUNAVAILABLE,
	"The database is unreachable; try again in a few seconds.")

// unavailable returns err as an EUNAVAILABLE error when it says the
// database could not be reached, and err unchanged otherwise. The driver's
// error stays in the chain, for logs and for errors.As. It is the one place
// that tells "the database is down" from "the query failed": without it an
// outage is answered 500 on every route, and a token lookup that could not
// run would look like any other failure.
func unavailable(err error) error {
	if err == nil || !unreachable(err) || domainflow.ErrorCode(err) == domainflow.EUNAVAILABLE {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// unreachable reports whether err is about the connection to the database
// rather than about the statement: no connection could be made (refused,
// timed out, no route), the one in use broke, or the server said it is
// shutting down or not taking connections yet.
func unreachable(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		opErr      *net.OpError
	)
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"): // connection_exception and its kin
			return true
		case code == "57P01", code == "57P02", code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case code == "53300": // too_many_connections
			return true
		}
		return false // the server answered: the statement was refused
	}
	switch {
	case errors.As(err, &connectErr), // includes a deadline that ran out while connecting
		errors.As(err, &opErr),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF), // the server went away mid-answer
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// classifyErrors makes every GORM operation's error go through unavailable,
// so that no method of the store has to remember to. Transaction's own
// errors (BEGIN, COMMIT) do not pass through callbacks: see transaction.
func classifyErrors(g *gorm.DB) error {
	const name = "domainflow:unavailable"
	classify := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = unavailable(tx.Error)
		}
	}
	cb := g.Callback()
	return errors.Join(
		cb.Create().After("*").Register(name, classify),
		cb.Query().After("*").Register(name, classify),
		cb.Update().After("*").Register(name, classify),
		cb.Delete().After("*").Register(name, classify),
		cb.Row().After("*").Register(name, classify),
		cb.Raw().After("*").Register(name, classify),
	)
}
