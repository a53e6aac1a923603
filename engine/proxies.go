package engine

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/domainflow/domainflow"
)

// ProxyChecker tells whether a proxy works.
type ProxyChecker interface {
	CheckProxy(ctx context.Context, p *domainflow.Proxy) (latencyMS float64, err error)
}

// proxyHealthArgs is the periodic job that checks every enabled proxy; River
// inserts it on one instance (the leader) at a time.
type proxyHealthArgs struct{}

func (proxyHealthArgs) Kind() string { return "proxy_health" }

type proxyHealthWorker struct {
	river.WorkerDefaults[proxyHealthArgs]
	e *Engine
}

func (w *proxyHealthWorker) Work(ctx context.Context, _ *river.Job[proxyHealthArgs]) error {
	proxies, err := w.e.db.EnabledProxies(ctx)
	if err != nil {
		return err
	}
	for _, p := range proxies {
		changed := p.RecordCheck(w.e.cfg.Proxies.CheckProxy(ctx, p))
		// Only the health is written, and only if the proxy was not moved
		// meanwhile: an edit made during the check stays.
		wrote, err := w.e.db.SetProxyHealth(ctx, p)
		if err != nil {
			return err
		}
		if wrote && changed {
			w.e.emit(domainflow.ProxyStatusEvent(p))
		}
	}
	return nil
}
