// Package retention ages evidence out of a store that a server owns: a
// Runner deletes, every Config.Every, the evidence older than Config.MaxAge
// and, while the store takes more than Config.MaxBytes, the oldest evidence
// left, in bounded batches (one transaction each) so that ingest goes on.
// It keeps every stored report and what reports cite, so that a stored
// report stays verifiable: every evidence ID anywhere in a report's JSON
// (claims, timeline, findings, causes, code sites) is protected, and the
// store keeps with a protected finding every ID it cites and with a
// protected span its whole trace (see the store's DeleteBefore).
//
// Age is measured from the earlier of the wall clock's now and the latest
// time of the stored evidence. Live data ages with the wall clock; a
// recording imported into the store is measured from its own end, so that
// it is not deleted on arrival; a sender whose clock runs ahead cannot
// make the store delete current data.
package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Config configures retention. Zero MaxAge and MaxBytes turn it off.
type Config struct {
	// MaxAge is how long evidence is kept (0: no age limit).
	MaxAge time.Duration
	// MaxBytes bounds the bytes the store's data take: the used blocks of
	// the file as of its last checkpoint plus the write-ahead log (0: no
	// size limit). See docs/retention.md for what it can promise.
	MaxBytes int64
	// Every is the time between two passes.
	Every time.Duration
	// BatchRows bounds the rows one batch deletes per table.
	BatchRows int
	// MaxBatches bounds the batches of one pass; what is left waits for
	// the next pass.
	MaxBatches int
}

// DefaultMaxAge is the retention serve applies unless told otherwise: a
// week covers an incident's investigation and the baselines it compares
// with, and bounds a store that nobody configured.
const DefaultMaxAge = 7 * 24 * time.Hour

// DefaultConfig: a week's evidence, no size limit, a pass a minute of at
// most 10 batches of 100,000 rows per table.
func DefaultConfig() Config {
	return Config{MaxAge: DefaultMaxAge, Every: time.Minute, BatchRows: 100_000, MaxBatches: 10}
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("invalid retention config")

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MaxAge < 0:
		return fmt.Errorf("%w: the age limit must not be negative", ErrConfig)
	case c.MaxAge > 0 && c.MaxAge < time.Minute:
		return fmt.Errorf("%w: the age limit must be at least 1m (or 0: off)", ErrConfig)
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: the size limit must not be negative", ErrConfig)
	case c.MaxBytes > 0 && c.MaxBytes < MinMaxBytes:
		return fmt.Errorf("%w: the size limit must be at least 16 MiB (or 0: off)", ErrConfig)
	case c.Every < 100*time.Millisecond:
		return fmt.Errorf("%w: the interval must be at least 100ms", ErrConfig)
	case c.BatchRows < 1:
		return fmt.Errorf("%w: the batch size must be at least 1 row", ErrConfig)
	case c.MaxBatches < 1:
		return fmt.Errorf("%w: a pass must run at least 1 batch", ErrConfig)
	}
	return nil
}

// MinMaxBytes is the smallest size limit: an empty store's schema alone
// takes about a megabyte, and DuckDB allocates 256 KiB blocks.
const MinMaxBytes = 16 << 20

// Enabled reports whether c limits anything.
func (c Config) Enabled() bool { return c.MaxAge > 0 || c.MaxBytes > 0 }

// Pruner deletes old evidence in batches and measures the store: the
// DuckDB store implements it.
type Pruner interface {
	// DeleteBefore removes one batch (at most about maxRows rows per
	// table) of the unprotected evidence older than cutoffNS, oldest
	// first, in one transaction.
	DeleteBefore(ctx context.Context, cutoffNS int64, keep []string, maxRows int) (evidence.PruneResult, error)
	// Size measures the store's files, after a checkpoint when asked for
	// and possible (checkpointed says whether it happened).
	Size(ctx context.Context, checkpoint bool) (size evidence.StoreSize, checkpointed bool, err error)
}

// Store is what a Runner needs.
type Store interface {
	Pruner
	evidence.ReportReader
	// LatestEvidenceNS is the latest time of the stored evidence (0: none).
	LatestEvidenceNS(ctx context.Context) (int64, error)
}

// Pass is what one pass did.
type Pass struct {
	// Protected counts the evidence IDs the stored reports cite.
	Protected int
	// Reports counts the stored reports read.
	Reports int
	// Deleted sums the batches' removals.
	Deleted evidence.PruneResult
	Batches int
	// Size is the last measurement (zero without a size limit).
	Size evidence.StoreSize
	// OverSize: the store still takes more than MaxBytes at the end of the
	// pass; Why says why (the batch budget ran out, only protected data
	// is left, or a checkpoint could not run to measure the freed space).
	OverSize bool
	Why      string
}

// Runner runs retention passes over a store.
type Runner struct {
	st  Store
	cfg Config
	log *slog.Logger
	now func() time.Time
	// cited caches the IDs each stored report cites, by report ID (a
	// report's ID names its content), so that a batch lists the reports
	// again but reads only the bodies of new ones.
	cited map[string][]string
}

// NewRunner validates cfg; logger nil discards.
func NewRunner(st Store, cfg Config, logger *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, cfg: cfg, log: logger.With("component", "retention"), now: time.Now,
		cited: map[string][]string{}}, nil
}

// Run runs a pass every cfg.Every until ctx ends. A failed pass is logged
// and the next one runs.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		p, err := r.Pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.log.Warn("retention pass failed", "err", err)
		default:
			level := slog.LevelDebug
			if p.Deleted.Rows() > 0 || p.OverSize {
				level = slog.LevelInfo
			}
			r.log.Log(ctx, level, "retention pass", "spans", p.Deleted.Spans, "span_events", p.Deleted.SpanEvents,
				"kernel_events", p.Deleted.KernelEvents, "lock_edge_rows", p.Deleted.LockEdgeRows,
				"logs", p.Deleted.Logs, "findings", p.Deleted.Findings, "batches", p.Batches,
				"reports", p.Reports, "protected_ids", p.Protected,
				"in_use_bytes", p.Size.InUse(), "file_bytes", p.Size.FileBytes, "over_size", p.OverSize,
				"took", time.Since(start).Round(time.Millisecond))
			if p.OverSize {
				r.log.Warn("store above --max-store-bytes after a retention pass", "why", p.Why)
			}
		}
	}
}

// Pass runs one pass: the age limit, then the size limit, within
// cfg.MaxBatches batches.
func (r *Runner) Pass(ctx context.Context) (Pass, error) {
	var p Pass
	// The protected set is read again before each batch, so that a report
	// stored during the pass protects what it cites from the next batch.
	keep := func() ([]string, error) {
		ids, n, err := r.protected(ctx)
		p.Protected, p.Reports = len(ids), n
		return ids, err
	}
	if r.cfg.MaxAge > 0 {
		latest, err := r.st.LatestEvidenceNS(ctx)
		if err != nil {
			return p, err
		}
		if ref := min(r.now().UnixNano(), latest); ref > 0 {
			cutoff := ref - r.cfg.MaxAge.Nanoseconds()
			for p.Batches < r.cfg.MaxBatches {
				ids, err := keep()
				if err != nil {
					return p, err
				}
				res, err := r.st.DeleteBefore(ctx, cutoff, ids, r.cfg.BatchRows)
				if err != nil {
					return p, err
				}
				p.Batches++
				p.Deleted.Add(res)
				if res.Done {
					break
				}
			}
		}
	}
	if r.cfg.MaxBytes <= 0 {
		return p, nil
	}
	// Size: delete the oldest batch, checkpoint (deleted rows free their
	// blocks only then), measure again, while above the limit. Deleting
	// stops at 90 % of it, so that a store at its limit is not trimmed by
	// a small batch every pass.
	target := r.cfg.MaxBytes / 10 * 9
	size, ok, err := r.st.Size(ctx, true)
	if err != nil {
		return p, err
	}
	p.Size = size
	if size.InUse() <= r.cfg.MaxBytes {
		return p, nil
	}
	for size.InUse() > target {
		if !ok {
			p.OverSize, p.Why = true, "the store could not checkpoint (transactions under way) to measure the freed space; the next pass tries again"
			return p, nil
		}
		if p.Batches >= r.cfg.MaxBatches {
			p.OverSize, p.Why = size.InUse() > r.cfg.MaxBytes, "the pass's batch budget ran out; the next pass goes on"
			return p, nil
		}
		ids, err := keep()
		if err != nil {
			return p, err
		}
		res, err := r.st.DeleteBefore(ctx, math.MaxInt64, ids, r.cfg.BatchRows)
		if err != nil {
			return p, err
		}
		p.Batches++
		p.Deleted.Add(res)
		if size, ok, err = r.st.Size(ctx, true); err != nil {
			return p, err
		}
		p.Size = size
		if res.Done {
			if size.InUse() > r.cfg.MaxBytes {
				p.OverSize, p.Why = true, "only evidence that stored reports cite, findings without a window, reports, resources and audit counts are left"
			}
			return p, nil
		}
	}
	return p, nil
}

// idKinds are the evidence ID kinds a report may cite.
var idKinds = []string{"span", "sev", "kev", "edge", "log", "finding", "cp", "ks"}

// Protected returns the evidence IDs the stored reports cite (every string
// in a report's JSON that has the form of an evidence ID), sorted and
// distinct, and the number of reports read.
func Protected(ctx context.Context, rr evidence.ReportReader) ([]string, int, error) {
	return protected(ctx, rr, map[string][]string{})
}

// protected is Protected with the runner's cache.
func (r *Runner) protected(ctx context.Context) ([]string, int, error) {
	return protected(ctx, r.st, r.cited)
}

// protected lists the stored reports, reads the bodies of those not in
// cited (adding them), drops the reports no longer stored from cited and
// returns the union of the cited IDs.
func protected(ctx context.Context, rr evidence.ReportReader, cited map[string][]string) ([]string, int, error) {
	listed := map[string]bool{}
	const page = 500
	for off := 0; ; off += page {
		reps, err := rr.Reports(ctx, evidence.ReportFilter{Limit: page, Offset: off})
		if err != nil {
			return nil, 0, fmt.Errorf("listing reports: %w", err)
		}
		for _, rep := range reps {
			listed[rep.ID] = true
			if _, ok := cited[rep.ID]; ok {
				continue
			}
			full, err := rr.Report(ctx, rep.ID)
			if errors.Is(err, evidence.ErrNotFound) {
				continue // replaced or removed since the listing
			}
			if err != nil {
				return nil, 0, fmt.Errorf("reading a stored report: %w", err)
			}
			seen := map[string]bool{}
			if err := citedIDs(full.Body, seen); err != nil {
				return nil, 0, fmt.Errorf("reading the citations of a stored report: %w", err)
			}
			ids := make([]string, 0, len(seen))
			for id := range seen {
				ids = append(ids, id)
			}
			cited[rep.ID] = ids
		}
		if len(reps) < page {
			break
		}
	}
	all := map[string]bool{}
	for id, ids := range cited {
		if !listed[id] {
			delete(cited, id)
			continue
		}
		for _, c := range ids {
			all[c] = true
		}
	}
	out := make([]string, 0, len(all))
	for id := range all {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, len(cited), nil
}

// citedIDs adds every string of the JSON document body that has the form
// of an evidence ID to seen.
func citedIDs(body []byte, seen map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if s, ok := tok.(string); ok && isEvidenceID(s) {
			seen[s] = true
		}
	}
}

// isEvidenceID reports whether s has the form <kind>:<rest> with a known
// kind and a non-empty rest. Statistic IDs may hold spaces (a series name);
// a string that only looks like an ID protects nothing.
func isEvidenceID(s string) bool {
	kind, rest, ok := strings.Cut(s, ":")
	return ok && rest != "" && slices.Contains(idKinds, kind)
}
