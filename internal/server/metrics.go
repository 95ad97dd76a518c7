package server

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// metrics are the server's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg        *prometheus.Registry
	handler    http.Handler
	durations  *prometheus.HistogramVec
	queueWait  prometheus.Histogram
	pipelines  prometheus.Counter
	deliveries *prometheus.CounterVec
	rejections *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "slipway_job_duration_seconds", Help: "How long jobs ran, by final status.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
	}, []string{"status"})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "slipway_job_queue_seconds", Help: "How long jobs waited in the queue for a runner.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
	})
	m.pipelines = prometheus.NewCounter(prometheus.CounterOpts{Name: "slipway_pipelines_created_total", Help: "Pipelines created."})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_webhook_deliveries_total", Help: "Webhook deliveries by forge and answer.",
	}, []string{"forge", "code"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_webhook_rejected_total",
		Help: "Webhook deliveries refused before they were authenticated (a bad signature, a body too large), which are not stored, by project id (as in the hook's URL) and reason.",
	}, []string{"project_id", "reason"})
	jobs := prometheus.NewDesc("slipway_jobs", "Jobs by status (the queue depth is status=\"pending\").", []string{"status"}, nil)
	runners := prometheus.NewDesc("slipway_runners", "Registered runners, and those seen in the last minute (online=\"true\").", []string{"online"}, nil)
	m.reg.MustRegister(m.durations, m.queueWait, m.pipelines, m.deliveries, m.rejections,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{s: s, jobs: jobs, runners: runners})
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) jobFinished(j *store.Job) {
	if !j.Started.IsZero() && !j.Finished.IsZero() {
		m.durations.WithLabelValues(string(j.Status)).Observe(j.Finished.Sub(j.Started).Seconds())
	}
}

func (m *metrics) jobStarted(j *store.Job, now time.Time) {
	if !j.Queued.IsZero() {
		m.queueWait.Observe(now.Sub(j.Queued).Seconds())
	}
}

func (m *metrics) pipelineCreated() { m.pipelines.Inc() }

func (m *metrics) delivery(forge string, code int) {
	m.deliveries.WithLabelValues(forge, strconv.Itoa(code)).Inc()
}

// rejected counts a delivery refused before it was authenticated. The project is labelled
// with the id its hook URL holds, which the sender knew: never with its path, which would tell
// whoever reads the metrics the path of every id tried.
func (m *metrics) rejected(projectID int64, reason string) {
	m.rejections.WithLabelValues(strconv.FormatInt(projectID, 10), reason).Inc()
}

// serveMetrics is GET /metrics, to the clients of Options.MetricsAllow only.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !slices.ContainsFunc(s.o.MetricsAllow, func(p netip.Prefix) bool { return p.Contains(ap.Addr().Unmap()) }) {
		return errStatus(http.StatusForbidden, "metrics are served to the addresses the server's --metrics-allow names only")
	}
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

// storeCollector reads job and runner counts from the store at scrape time.
type storeCollector struct {
	s             *Server
	jobs, runners *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.jobs; ch <- c.runners }

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if counts, err := c.s.store.CountJobs(ctx); err == nil {
		for _, st := range status.All() {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
	}
	if rs, err := c.s.store.ListRunners(ctx); err == nil {
		online := 0
		for _, r := range rs {
			if c.s.now().Sub(r.LastSeen) < time.Minute {
				online++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.runners, prometheus.GaugeValue, float64(online), "true")
		ch <- prometheus.MustNewConstMetric(c.runners, prometheus.GaugeValue, float64(len(rs)-online), "false")
	}
}
