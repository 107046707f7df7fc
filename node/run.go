package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
	"github.com/debugai/debugai/evidence"
)

// Node is a running collector. Detach is its kill switch.
type Node struct {
	cfg      Config
	log      *slog.Logger
	coll     *bpf.Collector
	enc      *encoder
	exp      *exporter
	spans    *exporter // kernel.anomaly spans; nil when off
	anom     *anomalies
	tgt      *targets
	met      *metrics
	listener net.Listener

	detachOnce sync.Once
	detached   chan struct{}
	decodeErrs atomic.Uint64
	anomalies  atomic.Uint64
	records    atomic.Uint64 // records read from the ring buffer
	clockMu    sync.Mutex
}

// Start validates cfg, loads and attaches the probes, finds the targets
// and starts the metrics listener. Run then reads and exports until its
// context ends or Detach is called.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	probes := cfg.Probes
	probes.PIDs = nil
	probes.FilterPIDs = len(cfg.PIDs) > 0 || len(cfg.Executables) > 0
	for _, dir := range cfg.Cgroups {
		id, err := bpf.CgroupID(dir)
		if err != nil {
			return nil, fmt.Errorf("target cgroup: %w", err)
		}
		probes.CgroupIDs = append(probes.CgroupIDs, id)
	}
	clock, err := bpf.SampleClock()
	if err != nil {
		return nil, err
	}
	coll, err := bpf.Load(probes)
	if err != nil {
		return nil, err
	}
	sym := symbolize.New()
	n := &Node{
		cfg: cfg, log: log, coll: coll,
		enc:      newEncoder(cfg.NodeID, cfg.KeyRing, sym, clock, time.Now()),
		exp:      newExporter(cfg, resourceAttrs(cfg.NodeID), log),
		detached: make(chan struct{}),
	}
	n.anom = newAnomalies(cfg.Anomaly, cfg.NodeID)
	if cfg.Anomaly.PerSecond > 0 {
		// The same resource as the node's log records, no service.name: the
		// node is not a service of the traces it marks.
		n.spans = newExporterTo(cfg, cfg.tracesURL(), encodeTraces, resourceAttrs(cfg.NodeID), log)
	}
	n.tgt = newTargets(cfg, coll, sym, log)
	n.met = &metrics{detach: n.Detach}
	if _, err := n.tgt.rescan(); err != nil {
		return nil, errors.Join(err, coll.Close())
	}
	if cfg.MetricsListen != "" {
		if n.listener, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, errors.Join(fmt.Errorf("metrics listener: %w", err), coll.Close())
		}
	}
	return n, nil
}

// Targets returns the target processes last found.
func (n *Node) Targets() []uint32 { return n.tgt.pids() }

// Exported returns the log records (kernel events, lock edges,
// kernel.anomaly records) and the kernel.anomaly spans that the endpoints
// acknowledged so far.
func (n *Node) Exported() (records, anomalySpans uint64) {
	_, records, _, _ = n.exp.stats()
	if n.spans != nil {
		_, anomalySpans, _, _ = n.spans.stats()
	}
	return records, anomalySpans
}

// MetricsAddr is the metrics listener's address ("" without one).
func (n *Node) MetricsAddr() string {
	if n.listener == nil {
		return ""
	}
	return n.listener.Addr().String()
}

// Detach is the kill switch: it detaches every probe at once. Run then
// exports what was already read and returns.
func (n *Node) Detach() { n.detach(true) }

func (n *Node) detach(killSwitch bool) {
	n.detachOnce.Do(func() {
		err := n.coll.Close()
		switch {
		case killSwitch:
			n.log.Warn("kill switch: every probe detached", "err", err)
		case err != nil:
			n.log.Warn("detaching probes", "err", err)
		default:
			n.log.Info("every probe detached")
		}
		close(n.detached)
	})
}

// Run reads records, exports them and keeps targets, clock and metrics
// current until ctx ends or Detach is called; then it detaches every
// probe, exports what is left (for at most the export timeout) and
// returns.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srv *http.Server
	if n.listener != nil {
		srv = &http.Server{Handler: n.met.handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(n.listener) }()
		defer func() {
			// Shutdown, not Close: the kill switch's own request is still
			// being answered when Run gets here.
			sctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
			defer stop()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		}()
	}
	expCtx, stopExp := context.WithCancel(context.Background())
	expDone := make(chan struct{})
	go func() {
		defer close(expDone)
		n.exp.run(expCtx, n.cfg.FlushInterval, n.cfg.ExportTimeout)
	}()
	spansDone := make(chan struct{})
	go func() {
		defer close(spansDone)
		if n.spans != nil {
			n.spans.run(expCtx, n.cfg.FlushInterval, n.cfg.ExportTimeout)
		}
	}()

	readDone := make(chan error, 1)
	go func() { readDone <- n.read(ctx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case <-n.detached:
	case runErr = <-readDone:
		readDone <- runErr
	}
	// Stop reading, take what is left in the ring, detach.
	cancel()
	if err := <-readDone; err != nil && runErr == nil {
		runErr = err
	}
	select {
	case <-n.detached:
	default:
		if _, err := n.coll.Drain(n.add); err != nil && !errors.Is(err, bpf.ErrClosed) {
			n.log.Warn("draining ring buffer", "err", err)
		}
		n.detach(false)
	}
	stopExp()
	<-expDone
	<-spansDone
	queued, sent, dropped, _ := n.exp.stats()
	spans, capped := n.anom.stats()
	n.log.Info("node collector stopped", "records", n.records.Load(), "exported", sent, "dropped", dropped+uint64(queued),
		"anomaly_spans", spans, "anomaly_spans_capped", capped)
	return runErr
}

// read is the ring-buffer loop; it also runs the once-a-second upkeep.
func (n *Node) read(ctx context.Context) error {
	upkeepDone, throttleDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(upkeepDone)
		n.upkeep(ctx)
	}()
	go func() {
		defer close(throttleDone)
		n.watchThrottling(ctx)
	}()
	defer func() { <-upkeepDone; <-throttleDone }()
	for {
		ev, err := n.coll.Read(ctx)
		switch {
		case err == nil:
			n.add(ev)
		case ctx.Err() != nil, errors.Is(err, bpf.ErrClosed):
			return nil
		case errors.Is(err, bpf.ErrRecordSize), errors.Is(err, bpf.ErrRecordKind), errors.Is(err, bpf.ErrRecordField):
			n.decodeErrs.Add(1)
		default:
			return fmt.Errorf("reading kernel events: %w", err)
		}
	}
}

func (n *Node) add(ev bpf.Event) {
	n.clockMu.Lock()
	rec, ok := n.enc.encode(ev)
	n.clockMu.Unlock()
	if ok {
		n.records.Add(1)
		n.exp.add(rec)
		n.anomalySpan(rec)
	}
}

// anomalySpan queues a kernel.anomaly span when rec, stamped with a
// trace, crosses its threshold.
func (n *Node) anomalySpan(rec record) {
	if n.spans == nil || rec.kev == nil {
		return
	}
	if sp, ok := n.anom.event(rec.kev, time.Now().UnixNano()); ok {
		n.spans.add(record{span: &sp, tsNS: sp.endNS})
	}
}

// watchThrottling reads the targets' cpu.stat files every
// Config.ThrottlePoll and exports kernel.cpu_throttle records.
func (n *Node) watchThrottling(ctx context.Context) {
	if n.cfg.ThrottlePoll <= 0 {
		return
	}
	w := newThrottleWatch(n.cfg.CgroupRoot)
	tick := time.NewTicker(n.cfg.ThrottlePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.detached:
			return
		case now := <-tick.C:
			for _, kev := range w.poll(n.tgt.pids(), now) {
				n.clockMu.Lock()
				rec := n.enc.kernel(kev)
				n.clockMu.Unlock()
				n.records.Add(1)
				n.exp.add(rec)
				n.anomalySpan(rec)
			}
		}
	}
}

// upkeep runs every second: metrics, anomaly triggers, target rescans
// and clock resampling at their own intervals.
func (n *Node) upkeep(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastScan, lastClock := time.Now(), time.Now()
	var prev bpf.Counters
	var prevExpDropped, prevMisses uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.detached:
			return
		case now := <-tick.C:
			if now.Sub(lastScan) >= n.cfg.RescanInterval {
				lastScan = now
				if _, err := n.tgt.rescan(); err != nil {
					n.log.Warn("rescanning targets", "err", err)
				}
			}
			if now.Sub(lastClock) >= n.cfg.ClockResample {
				lastClock = now
				if clk, err := bpf.SampleClock(); err == nil {
					n.clockMu.Lock()
					n.enc.clock = clk
					n.clockMu.Unlock()
				}
			}
			c, err := n.coll.Counters()
			if err != nil {
				continue
			}
			misses, err := n.coll.RecursionMisses()
			if err != nil {
				misses = prevMisses
			}
			queued, sent, expDropped, failed := n.exp.stats()
			events := c.Events() - prev.Events()
			drops := c.Drops() - prev.Drops() + expDropped - prevExpDropped + misses - prevMisses
			n.triggers(events, drops, now)
			prev, prevExpDropped, prevMisses = c, expDropped, misses
			spans, capped := n.anom.stats()
			var spanExp exportStats
			if n.spans != nil {
				spanExp.queued, spanExp.sent, spanExp.dropped, spanExp.failed = n.spans.stats()
			}
			n.clockMu.Lock()
			bound, collapsed := n.enc.clock.Bound(), n.enc.collapsedEdges
			n.clockMu.Unlock()
			n.met.set(snapshot{
				counters: c, eventsPerSec: float64(events), dropsPerSec: float64(drops),
				ringFill: n.coll.RingFill(), exportQueued: queued, exportSent: sent,
				exportDropped: expDropped, exportFailed: failed, decodeErrors: n.decodeErrs.Load(),
				anomalies: n.anomalies.Load(), targets: n.tgt.count(), clockBoundSecs: bound.Seconds(),
				anomalySpans: spans, anomalySpansCapped: capped, spanExport: spanExp,
				probeMisses: misses, edgesCollapsed: collapsed,
			})
		}
	}
}

// triggers sends kernel.anomaly records for drops and for bursts, and
// kernel.anomaly spans into the traces stamped on events since the last
// second.
func (n *Node) triggers(events, drops uint64, now time.Time) {
	if n.spans != nil {
		for _, sp := range n.anom.tick(drops, events, n.cfg.BurstRecords, now.UnixNano()) {
			n.spans.add(record{span: &sp, tsNS: sp.endNS})
		}
	}
	send := func(reason string, count uint64) {
		n.anomalies.Add(1)
		n.exp.add(record{anom: &anomaly{reason: reason, count: int64(count)}, tsNS: now.UnixNano()})
		n.log.Warn("kernel anomaly", "reason", reason, "count", count)
	}
	if drops > 0 {
		send("drops", drops)
	}
	if events > uint64(n.cfg.BurstRecords) {
		send("burst", events)
	}
}

// resourceAttrs describes this node.
func resourceAttrs(node string) map[string]string {
	attrs := map[string]string{
		evidence.AttrNodeID: node,
		"os.type":           runtime.GOOS,
		"host.arch":         runtime.GOARCH,
	}
	if h, err := os.Hostname(); err == nil {
		attrs["host.name"] = h
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		attrs["os.version"] = strings.TrimRight(string(u.Release[:]), "\x00")
	}
	return attrs
}
