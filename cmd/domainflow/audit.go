package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/domainflow/domainflow"
)

// audit prints the audit trail, newest first: every user's, or one's.
func audit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		user  string
		since time.Time
		limit = 100
	)
	db, _, err := open(ctx, "audit", args, getenv, stderr, &config{}, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "only this user's events")
		fs.Func("since", "only events of the last DURATION (e.g. 24h, 30m) or since a time (RFC 3339, e.g. 2025-06-01T00:00:00Z)", func(s string) error {
			if d, err := time.ParseDuration(s); err == nil && d > 0 {
				since = time.Now().Add(-d)
				return nil
			}
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				since = t
				return nil
			}
			return fmt.Errorf("%q is neither a positive duration such as 24h nor a time such as 2025-06-01T00:00:00Z", s)
		})
		fs.Func("limit", "print at most N events (1-10000, default 100)", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 10000 {
				return fmt.Errorf("%q is not a whole number from 1 to 10000", s)
			}
			limit = n
			return nil
		})
	})
	if err != nil {
		return err
	}
	defer db.Close()
	page, err := db.ListAudit(ctx, domainflow.AuditQuery{UserName: user, Since: since, Limit: limit})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tUSER\tADDRESS\tACTION\tRESOURCE\tDETAIL")
	for _, ev := range page.Items {
		detail, err := json.Marshal(ev.Detail)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s %s\t%s\n", ev.At.Format(time.RFC3339), ev.UserName, ev.Address, ev.Action,
			ev.ResourceType, ev.ResourceID, detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.HasMore {
		fmt.Fprintf(stdout, "(older events not shown: raise --limit or narrow --since)\n")
	}
	return nil
}
