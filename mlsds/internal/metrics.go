package internal

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcome labels besides the error codes of rejections.
const outcomeAccepted = "accepted"

// Kind labels of messages the DS could not classify.
const kindUnknown = "unknown"

// Reasons for the DS's Remove proposals.
const (
	reasonDeparture     = "departure"
	reasonDeletedDevice = "deleted_device"
	// reasonCarriedOver: proposed again after an external commit left
	// the removal out.
	reasonCarriedOver = "carried_over"
)

var (
	messagesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "messages_total",
		Help:      "m.mls.message handled by the Delivery Service, by kind (genesis, commit, proposal, unknown) and outcome (accepted or the rejection's errcode)",
	}, []string{"kind", "outcome"})

	acceptSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "accept_seconds",
		Help:      "Time from receiving an m.mls.message to its durable append to the log",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"kind"})

	fanOutSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "fanout_seconds",
		Help:      "Time to hand one accepted message's to-device messages to every recipient's delivery path",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})

	commitReads = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "commit_reads_total",
		Help:      "Single log entries (commits sent by reference) read from the Delivery Service's log, for local users' servers' caches and for other servers",
	})

	removalsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "removals_total",
		Help:      "Remove proposals the Delivery Service made as external sender, by reason (departure: the user left, was kicked or banned; deleted_device; carried_over: proposed again after an external commit)",
	}, []string{"reason"})

	inviteAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "invite_attempts_total",
		Help:      "Attempts at having the inviter's server send the invite of an accepted commit, by outcome (sent, refused: given up, failed: tried again later)",
	}, []string{"outcome"})

	logEntries = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "dendrite",
		Subsystem: "mlsds",
		Name:      "log_entries",
		Help:      "Entries in the logs of every MLS room of this Delivery Service",
	})
)

// RegisterMetrics registers the DS's metrics with Prometheus' default
// registry. Call it once per process.
func RegisterMetrics() {
	prometheus.MustRegister(messagesTotal, acceptSeconds, fanOutSeconds, commitReads, removalsTotal, inviteAttempts, logEntries)
}
