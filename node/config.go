package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/privacy"
)

// Config configures a node collector run. Start from DefaultConfig.
type Config struct {
	// Endpoint is the OTLP/HTTP logs URL: debugai serve
	// (http://127.0.0.1:4318/v1/logs) or any OpenTelemetry Collector.
	Endpoint string
	// TracesEndpoint is the OTLP/HTTP traces URL the kernel.anomaly spans
	// go to (docs/anomaly-loop.md); empty: Endpoint with /v1/logs
	// replaced by /v1/traces.
	TracesEndpoint string
	// Anomaly says when a kernel event stamped with a trace sends a
	// kernel.anomaly span into that trace.
	Anomaly AnomalyConfig
	// Headers are added to every export request (e.g. authorization).
	Headers map[string]string
	// NodeID names this node in evidence IDs (kev:<node>/...); default the
	// host name. No '/' or spaces.
	NodeID string
	// Probes configures the kernel probes (thresholds, ring size). Its
	// PIDs and CgroupIDs are set from the targets below.
	Probes bpf.Config
	// Targets. With none of PIDs and Executables every process is
	// observed (within Cgroups, when given).
	PIDs []uint32
	// Cgroups are cgroup v2 directories (e.g.
	// /sys/fs/cgroup/unified/system.slice/app.service).
	Cgroups []string
	// Executables are binaries whose processes, now or later (restarts,
	// new replicas), are targets; span hooks and Go lock probes are put on
	// them and re-attached when the file is replaced (a redeploy).
	Executables []string
	// SpanHooks attaches the hint span markers of Executables; GoLocks the
	// Go lock-order probes (useful in binaries built with
	// -gcflags=all=-l, see docs/lock-order.md); PthreadLocks the pthread
	// lock-order probes on each target process's C library.
	SpanHooks, GoLocks, PthreadLocks bool
	// GoLockWaits reports contended sync.Mutex waits of Go Executables
	// (they never reach a futex) as futex-wait records on the mutex.
	GoLockWaits bool
	// RescanInterval is how often target processes are looked for.
	RescanInterval time.Duration
	// ThrottlePoll is how often the cpu.stat files of the targets'
	// cgroups are read for CPU-quota throttling (kernel.cpu_throttle
	// records); 0 turns it off.
	ThrottlePoll time.Duration
	// CgroupRoot is where the cgroup file systems are mounted.
	CgroupRoot string
	// Export batching and retries.
	BatchRecords  int
	QueueRecords  int
	FlushInterval time.Duration
	ExportTimeout time.Duration
	RetryMax      time.Duration
	// ClockResample is how often the monotonic-to-wall-clock offset is
	// measured again (NTP slews it).
	ClockResample time.Duration
	// BurstRecords: more records than this in one second sends a
	// kernel.anomaly record (reason burst); any drop sends one (drops).
	BurstRecords int
	// MetricsListen serves /metrics (Prometheus text) and POST /detach
	// (the kill switch); empty: no listener.
	MetricsListen string
	// KeyRing tokenizes addresses before export; required.
	KeyRing *privacy.KeyRing
	Logger  *slog.Logger
}

// tracesURL is where kernel.anomaly spans go (Validate has checked it).
func (c *Config) tracesURL() string {
	if c.TracesEndpoint != "" {
		return c.TracesEndpoint
	}
	u, _ := tracesEndpoint(c.Endpoint)
	return u
}

// DefaultConfig exports to a local debugai serve.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Endpoint:       "http://127.0.0.1:4318/v1/logs",
		NodeID:         host,
		Probes:         bpf.DefaultConfig(),
		SpanHooks:      true,
		GoLocks:        true,
		GoLockWaits:    true,
		RescanInterval: 2 * time.Second,
		ThrottlePoll:   200 * time.Millisecond,
		CgroupRoot:     "/sys/fs/cgroup",
		BatchRecords:   1024,
		QueueRecords:   1 << 16,
		FlushInterval:  time.Second,
		ExportTimeout:  10 * time.Second,
		RetryMax:       30 * time.Second,
		ClockResample:  10 * time.Second,
		BurstRecords:   20000,
		Anomaly:        DefaultAnomalyConfig(),
		MetricsListen:  "127.0.0.1:9464",
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("export endpoint: want an http:// or https:// URL with a host (the value is not repeated: it may carry credentials)")
	}
	if err := c.Anomaly.Validate(); err != nil {
		return err
	}
	if c.Anomaly.PerSecond > 0 {
		traces := c.TracesEndpoint
		if traces == "" {
			var ok bool
			if traces, ok = tracesEndpoint(c.Endpoint); !ok {
				return errors.New("traces endpoint: the logs endpoint does not end in /v1/logs; set the traces endpoint, or turn kernel.anomaly spans off")
			}
		}
		if u, err := url.Parse(traces); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("traces endpoint: want an http:// or https:// URL")
		}
	}
	if c.NodeID == "" {
		return errors.New("node id is empty (set it; the host name could not be read)")
	}
	for _, r := range c.NodeID {
		if r == '/' || r == ' ' {
			return fmt.Errorf("node id %q: no '/' or spaces", c.NodeID)
		}
	}
	switch {
	case c.KeyRing == nil:
		return errors.New("no privacy key ring: addresses could not be tokenized")
	case c.RescanInterval <= 0, c.FlushInterval <= 0, c.ExportTimeout <= 0, c.ClockResample <= 0:
		return errors.New("rescan, flush, export timeout and clock intervals must be positive")
	case c.ThrottlePoll < 0:
		return fmt.Errorf("throttle poll interval %v is negative (0 turns it off)", c.ThrottlePoll)
	case c.ThrottlePoll > 0 && c.ThrottlePoll < 10*time.Millisecond:
		return fmt.Errorf("throttle poll interval %v: want at least 10ms", c.ThrottlePoll)
	case c.RetryMax < 0:
		return fmt.Errorf("retry budget %v is negative", c.RetryMax)
	case c.BatchRecords < 1 || c.QueueRecords < c.BatchRecords:
		return fmt.Errorf("batch %d and queue %d records: want 1 <= batch <= queue", c.BatchRecords, c.QueueRecords)
	case c.BurstRecords < 1:
		return fmt.Errorf("burst threshold %d: must be positive", c.BurstRecords)
	}
	for _, p := range c.Executables {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("target executable: %w", err)
		}
	}
	p := c.Probes
	p.PIDs = c.PIDs
	if err := p.Validate(); err != nil {
		return err
	}
	return nil
}
