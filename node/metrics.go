package node

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/debugai/debugai/bpf"
)

// snapshot is what /metrics reports, refreshed by the run loop every
// second.
type snapshot struct {
	counters       bpf.Counters
	eventsPerSec   float64 // records written by the probes, last second
	dropsPerSec    float64 // records lost (ring buffer, export queue, skipped probe runs), last second
	ringFill       float64
	exportQueued   int
	exportSent     uint64
	exportDropped  uint64
	exportFailed   uint64
	decodeErrors   uint64
	anomalies      uint64
	targets        int
	detached       bool
	clockBoundSecs float64
	probeMisses    uint64
	edgesCollapsed uint64 // lock edges repeating a site pair between other addresses
	// kernel.anomaly spans: admitted, over the per-second cap, and their
	// exporter's counters.
	anomalySpans, anomalySpansCapped uint64
	spanExport                       exportStats
}

// exportStats are an exporter's counters.
type exportStats struct {
	queued                int
	sent, dropped, failed uint64
}

// metrics serves the latest snapshot in the Prometheus text format.
type metrics struct {
	mu     sync.Mutex
	snap   snapshot
	detach func() // the kill switch
}

func (m *metrics) set(s snapshot) {
	m.mu.Lock()
	m.snap = s
	m.mu.Unlock()
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", m.serveMetrics)
	mux.HandleFunc("POST /detach", func(w http.ResponseWriter, r *http.Request) {
		m.detach()
		fmt.Fprintln(w, "every probe detached; exporting what was read and exiting")
	})
	return mux
}

func (m *metrics) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	s := m.snap
	m.mu.Unlock()
	cpu, rss := ownUsage()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	bw := bufio.NewWriter(w)
	c := s.counters
	for _, x := range []struct {
		name, help, typ string
		labels          string
		v               float64
	}{
		{"debugai_node_events_total", "Records written by the probes.", "counter", `type="futex_wait"`, float64(c.FutexEvents)},
		{"debugai_node_events_total", "", "", `type="runqueue_delay"`, float64(c.RunqueueEvents)},
		{"debugai_node_events_total", "", "", `type="tcp_retransmit"`, float64(c.TCPEvents)},
		{"debugai_node_events_total", "", "", `type="block_io"`, float64(c.BlockEvents)},
		{"debugai_node_events_total", "", "", `type="page_fault_major"`, float64(c.FaultEvents)},
		{"debugai_node_events_total", "", "", `type="fsync"`, float64(c.FsyncEvents)},
		{"debugai_node_events_total", "", "", `type="lock_edge"`, float64(c.LockEvents)},
		{"debugai_node_lock_edges_collapsed_total", "Lock-order edges not exported because an edge between other lock addresses at the same call sites was.", "counter", "", float64(s.edgesCollapsed)},
		{"debugai_node_ring_drops_total", "Records lost to a full ring buffer.", "counter", "", float64(c.Drops())},
		{"debugai_node_probe_misses_total", "Probe runs the kernel skipped because another BPF program ran on the CPU.", "counter", "", float64(s.probeMisses)},
		{"debugai_node_state_missed_total", "Waits, sockets or requests not tracked for lack of per-task state.", "counter", "", float64(c.StateMissed)},
		{"debugai_node_events_per_second", "Records written by the probes in the last second.", "gauge", "", s.eventsPerSec},
		{"debugai_node_drops_per_second", "Records lost (ring buffer or export queue) in the last second.", "gauge", "", s.dropsPerSec},
		{"debugai_node_ring_fill_ratio", "Share of the ring buffer holding unread records.", "gauge", "", s.ringFill},
		{"debugai_node_export_queued_records", "Records waiting for export.", "gauge", "", float64(s.exportQueued)},
		{"debugai_node_export_sent_total", "Records acknowledged by the endpoint.", "counter", "", float64(s.exportSent)},
		{"debugai_node_export_dropped_total", "Records dropped before export (queue full or export failed).", "counter", "", float64(s.exportDropped)},
		{"debugai_node_export_failures_total", "Export requests that failed after retries.", "counter", "", float64(s.exportFailed)},
		{"debugai_node_decode_errors_total", "Ring-buffer records that did not decode.", "counter", "", float64(s.decodeErrors)},
		{"debugai_node_anomalies_total", "kernel.anomaly records sent.", "counter", "", float64(s.anomalies)},
		{"debugai_node_anomaly_spans_total", "kernel.anomaly spans queued for export into stamped traces.", "counter", "", float64(s.anomalySpans)},
		{"debugai_node_anomaly_spans_capped_total", "Kernel events over their anomaly threshold (and drop or burst triggers) not sent as kernel.anomaly spans because of the per-second cap.", "counter", "", float64(s.anomalySpansCapped)},
		{"debugai_node_anomaly_spans_sent_total", "kernel.anomaly spans acknowledged by the traces endpoint.", "counter", "", float64(s.spanExport.sent)},
		{"debugai_node_anomaly_spans_dropped_total", "kernel.anomaly spans dropped before export (queue full or export failed).", "counter", "", float64(s.spanExport.dropped)},
		{"debugai_node_targets", "Target processes being observed.", "gauge", "", float64(s.targets)},
		{"debugai_node_detached", "1 once the kill switch detached every probe.", "gauge", "", boolf(s.detached)},
		{"debugai_node_clock_error_bound_seconds", "Bound on the monotonic to wall-clock conversion error.", "gauge", "", s.clockBoundSecs},
		{"debugai_node_cpu_seconds_total", "CPU time of the node collector (user and system).", "counter", "", cpu},
		{"debugai_node_resident_memory_bytes", "Resident set size of the node collector.", "gauge", "", rss},
	} {
		if x.help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", x.name, x.help, x.name, x.typ)
		}
		if x.labels != "" {
			fmt.Fprintf(bw, "%s{%s} %s\n", x.name, x.labels, strconv.FormatFloat(x.v, 'g', -1, 64))
		} else {
			fmt.Fprintf(bw, "%s %s\n", x.name, strconv.FormatFloat(x.v, 'g', -1, 64))
		}
	}
	bw.Flush()
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ownUsage returns this process's CPU seconds and resident bytes.
func ownUsage() (cpu, rss float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseFloat(f[1], 64)
			rss = pages * float64(os.Getpagesize())
		}
	}
	return cpu, rss
}
