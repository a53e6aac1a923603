package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the service's Prometheus registry and the HTTP metrics the
// server keeps itself. Other parts (the engine, the hub, the database pool)
// register their own collectors on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	requests    *prometheus.HistogramVec
	conditional *prometheus.CounterVec
}

// NewMetrics makes a registry with the Go runtime and process collectors and
// the HTTP metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "domainflow_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template, method and status. Its _count by route is the polling frequency.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		conditional: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "domainflow_http_conditional_requests_total",
			Help: "GET requests with If-None-Match, by route and outcome: hit (304, nothing new) or miss (a full answer; errors are not counted).",
		}, []string{"route", "outcome"}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.conditional)
	return m
}

// Handler serves the registry at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// middleware times every request by its route template (never the raw path,
// which would make a series per campaign id).
func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the problem now, so the status is final
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		// A hit is a 304, which only the current ETag earns (not "*"); a
		// miss is the full answer. An error answer is neither: it says
		// nothing of how well clients' copies keep.
		if c.Request().Method == http.MethodGet && c.Request().Header.Get("If-None-Match") != "" {
			switch {
			case status == http.StatusNotModified:
				m.conditional.WithLabelValues(route, "hit").Inc()
			case status >= 200 && status < 300:
				m.conditional.WithLabelValues(route, "miss").Inc()
			}
		}
		return nil
	}
}

// noCache marks API answers as private and to be revalidated: clients and
// proxies may keep them, but must ask (with the ETag) before using them.
func noCache(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodGet && len(c.Request().URL.Path) > 8 && c.Request().URL.Path[:8] == "/api/v1/" {
			c.Response().Header().Set("Cache-Control", "private, no-cache")
		}
		return next(c)
	}
}
