package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/domainflow/domainflow/realtime"
)

// hubCollector exports the hub's counters.
type hubCollector struct{ hub *realtime.Hub }

var (
	wsConnections = prometheus.NewDesc("domainflow_websocket_connections",
		"WebSocket connections open now.", nil, nil)
	wsConnectionsTotal = prometheus.NewDesc("domainflow_websocket_connections_total",
		"WebSocket connections accepted.", nil, nil)
	wsMessages = prometheus.NewDesc("domainflow_websocket_messages_total",
		"WebSocket messages sent to clients, by event type.", []string{"type"}, nil)
	wsDrops = prometheus.NewDesc("domainflow_websocket_drops_total",
		"WebSocket clients closed for being too slow.", nil, nil)
	wsRefused = prometheus.NewDesc("domainflow_websocket_refused_events_total",
		"Events refused by the hub (types that are never sent).", nil, nil)
)

func (hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{wsConnections, wsConnectionsTotal, wsMessages, wsDrops, wsRefused} {
		ch <- d
	}
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.hub.Stats()
	ch <- prometheus.MustNewConstMetric(wsConnections, prometheus.GaugeValue, float64(s.Connections))
	ch <- prometheus.MustNewConstMetric(wsConnectionsTotal, prometheus.CounterValue, float64(s.ConnectionsTotal))
	for typ, n := range s.MessagesByType {
		ch <- prometheus.MustNewConstMetric(wsMessages, prometheus.CounterValue, float64(n), string(typ))
	}
	ch <- prometheus.MustNewConstMetric(wsDrops, prometheus.CounterValue, float64(s.Drops))
	ch <- prometheus.MustNewConstMetric(wsRefused, prometheus.CounterValue, float64(s.Refused))
}
