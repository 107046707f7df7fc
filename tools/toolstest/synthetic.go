package toolstest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// SyntheticSpansPerTrace is the size of every synthetic trace.
const SyntheticSpansPerTrace = 10

// Synthetic writes n spans (traces of 10 spans over 5 services, spread
// over an hour), one stamped futex wait per 100 spans, a two-lock
// inversion, critpath and lockgraph findings over the first traces and a
// report into a new store at path. It is deterministic.
func Synthetic(ctx context.Context, path string, n int) (err error) {
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	rng := rand.New(rand.NewPCG(1, 2))
	const start = int64(1_800_000_000_000_000_000)
	traces := n / SyntheticSpansPerTrace
	step := int64(3600e9) / int64(max(traces, 1))
	var sample []evidence.Span
	b := &evidence.Batch{}
	var seq uint64
	for i := range traces {
		spans := syntheticTrace(rng, uint64(i), start+int64(i)*step)
		if len(sample) < 20_000 {
			sample = append(sample, spans...)
		}
		b.Spans = append(b.Spans, spans...)
		if i%10 == 0 {
			s := &spans[3]
			seq++
			b.KernelEvents = append(b.KernelEvents, evidence.KernelEvent{Node: "node-1", Stream: "futex_wait", Seq: seq,
				Type: evidence.KernelFutexWait, Service: s.Service, TimeNS: s.EndNS - 1000, DurationNS: s.DurationNS() / 2,
				PID: 100, TID: int64(1000 + i%3000), TraceID: s.TraceID, SpanID: s.SpanID, Addr: 0xdead0})
		}
		if len(b.Spans) >= 50_000 {
			if err := st.Write(ctx, b); err != nil {
				return fmt.Errorf("writing synthetic spans: %w", err)
			}
			b = &evidence.Batch{}
		}
	}
	for _, e := range [][2]string{{LockA, LockB}, {LockB, LockA}} {
		b.LockEdges = append(b.LockEdges, evidence.LockEdge{Node: "node-1", Service: "svc-2", PID: 100, Held: e[0],
			Acquiring: e[1], Count: 3, FirstNS: start, LastNS: start + 3600e9})
	}
	if err := st.Write(ctx, b); err != nil {
		return err
	}
	_, fs, err := critpath.Analyze(sample, critpath.DefaultConfig())
	if err != nil {
		return err
	}
	_, lfs, err := lockgraph.Analyze(b.LockEdges, nil, lockgraph.DefaultConfig())
	if err != nil {
		return err
	}
	return st.WriteFindings(ctx, append(fs, lfs...))
}

// syntheticTrace is a root span with a chain and fan-out of children.
func syntheticTrace(rng *rand.Rand, i uint64, t0 int64) []evidence.Span {
	var tid evidence.TraceID
	binary.BigEndian.PutUint64(tid[:8], i+1)
	binary.BigEndian.PutUint64(tid[8:], 0x9e3779b97f4a7c15*(i+1))
	spans := make([]evidence.Span, SyntheticSpansPerTrace)
	end := t0 + 1e6 + rng.Int64N(200e6)
	for k := range spans {
		var sid evidence.SpanID
		binary.BigEndian.PutUint64(sid[:], (i+1)<<8|uint64(k+1))
		s := evidence.Span{TraceID: tid, SpanID: sid, Service: fmt.Sprintf("svc-%d", k%5), Name: fmt.Sprintf("op-%d", k),
			Version: fmt.Sprintf("v%d", 1+i%2), Host: "node-1", Kind: evidence.KindServer, StartNS: t0 + int64(k)*1000,
			EndNS: end - int64(k)*1000, ThreadID: int64(1000 + i%3000), ProcessPID: 100, HTTPRoute: fmt.Sprintf("/op/%d", k)}
		if k > 0 {
			s.ParentSpanID = spans[(k-1)/3].SpanID
			s.EndNS = s.StartNS + rng.Int64N(max(end-s.StartNS, 1))
		}
		spans[k] = s
	}
	return spans
}
