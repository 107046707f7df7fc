package tools

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/debugai/debugai/evidence"
)

// maxEvidenceIDs bounds the IDs one get_evidence call resolves.
const maxEvidenceIDs = 20

// GetEvidenceInput names evidence IDs.
type GetEvidenceInput struct {
	IDs []string `json:"ids" jsonschema:"evidence IDs from other answers (span:, sev:, kev:, edge:, log:, res:, finding:, cp:, ks:), 1 to 20"`
}

// KernelEventRow is one kernel observation.
type KernelEventRow struct {
	Type       string  `json:"type"`
	Node       string  `json:"node"`
	Service    string  `json:"service,omitempty"`
	Time       string  `json:"time"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	PID        int64   `json:"pid,omitempty"`
	TID        int64   `json:"tid,omitempty"`
	Span       string  `json:"span,omitempty" jsonschema:"span the node's hooks stamped it with"`
	Lock       string  `json:"lock,omitempty" jsonschema:"lock symbol or address of a futex wait"`
	Value      int64   `json:"value,omitempty"`
}

// ResourceRow describes an emitting entity (the deploy line).
type ResourceRow struct {
	Service     string `json:"service,omitempty"`
	Version     string `json:"version,omitempty"`
	Environment string `json:"environment,omitempty"`
	Host        string `json:"host,omitempty"`
	Node        string `json:"node,omitempty"`
}

// RecordRow is a span event or a log record (bodies are never stored).
type RecordRow struct {
	Name     string `json:"name,omitempty"`
	Time     string `json:"time"`
	Severity string `json:"severity,omitempty"`
	Service  string `json:"service,omitempty"`
	Span     string `json:"span,omitempty"`
}

// EvidenceRow is one resolved ID; exactly one detail is set when Found.
type EvidenceRow struct {
	ID          string          `json:"id,omitempty" jsonschema:"the id, when found (rows follow the order of ids)"`
	Found       bool            `json:"found"`
	Line        string          `json:"line,omitempty" jsonschema:"evidence line: trace, kernel.futex, kernel.sched, kernel.tcp, kernel.block, kernel.fault, lock, deploy, log"`
	Error       string          `json:"error,omitempty"`
	Span        *SpanRow        `json:"span,omitempty"`
	KernelEvent *KernelEventRow `json:"kernel_event,omitempty"`
	LockEdge    *EdgeRow        `json:"lock_edge,omitempty"`
	Finding     *FindingRow     `json:"finding,omitempty"`
	Resource    *ResourceRow    `json:"resource,omitempty"`
	Record      *RecordRow      `json:"record,omitempty"`
}

// GetEvidenceOutput resolves each ID in order.
type GetEvidenceOutput struct {
	Summary string        `json:"summary"`
	Items   []EvidenceRow `json:"items"`
}

// GetEvidence resolves evidence IDs to the stored facts behind them.
func (t *Toolset) GetEvidence(ctx context.Context, in GetEvidenceInput) (GetEvidenceOutput, error) {
	out := GetEvidenceOutput{Items: []EvidenceRow{}}
	if len(in.IDs) == 0 || len(in.IDs) > maxEvidenceIDs {
		return out, argErrorf("ids", "%d ids: want 1..%d", len(in.IDs), maxEvidenceIDs)
	}
	found := 0
	for i, id := range in.IDs {
		// Rows come in the order of ids; an id that resolves to nothing is
		// the caller's text and is not repeated back.
		row := EvidenceRow{}
		it, err := t.r.Get(ctx, id)
		switch {
		case errors.Is(err, evidence.ErrBadID):
			row.Error = fmt.Sprintf("ids[%d]: malformed evidence id", i)
		case errors.Is(err, evidence.ErrNotFound):
			row.Error = fmt.Sprintf("ids[%d]: not found in the store", i)
		case err != nil:
			return out, fmt.Errorf("resolving ids[%d]: %w", i, err)
		default:
			row.ID, row.Found, row.Line = id, true, string(it.Line)
			fillEvidence(&row, &it)
			found++
		}
		out.Items = append(out.Items, row)
	}
	out.Summary = fmt.Sprintf("%d of %d ids resolved", found, len(in.IDs))
	return out, nil
}

func fillEvidence(row *EvidenceRow, it *evidence.Item) {
	switch {
	case it.Span != nil:
		s := spanRow(it.Span)
		row.Span = &s
	case it.SpanEvent != nil:
		row.Record = &RecordRow{Name: it.SpanEvent.Name, Time: fmtNS(it.SpanEvent.TimeNS)}
	case it.KernelEvent != nil:
		row.KernelEvent = kernelEventRow(it.KernelEvent)
	case it.LockEdge != nil:
		e := it.LockEdge
		row.LockEdge = &EdgeRow{ID: e.ID(), Held: e.Held, Acquiring: e.Acquiring, HeldSite: e.HeldSite,
			AcquiringSite: e.AcquiringSite, Service: e.Service, PID: e.PID, Count: e.Count}
	case it.Finding != nil:
		f := findingRow(it.Finding, 5)
		f.Stats = statsOf(it.Finding.Attrs, 8)
		row.Finding = &f
	case it.Resource != nil:
		r := it.Resource
		row.Resource = &ResourceRow{Service: r.Service, Version: r.Version, Environment: r.Environment, Host: r.Host, Node: r.Node}
	case it.Log != nil:
		l := it.Log
		rec := &RecordRow{Name: l.EventName, Time: fmtNS(l.TimeNS), Severity: l.SeverityText, Service: l.Service}
		if !l.SpanID.IsZero() {
			rec.Span = evidence.SpanEvidenceID(l.TraceID, l.SpanID)
		}
		row.Record = rec
	}
}

func kernelEventRow(e *evidence.KernelEvent) *KernelEventRow {
	r := &KernelEventRow{Type: string(e.Type), Node: e.Node, Service: e.Service, Time: fmtNS(e.TimeNS),
		DurationMS: ms(e.DurationNS), PID: e.PID, TID: e.TID, Value: e.Value}
	if !e.SpanID.IsZero() {
		r.Span = evidence.SpanEvidenceID(e.TraceID, e.SpanID)
	}
	if e.Addr != 0 {
		r.Lock = "0x" + strconv.FormatUint(e.Addr, 16)
		for _, a := range e.Attrs {
			if a.Key == evidence.AttrLockName && a.Value.Str != "" {
				r.Lock = a.Value.Str
			}
		}
	}
	return r
}
