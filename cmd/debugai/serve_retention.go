package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/retention"
)

var _ retention.Store = (*duckdb.Store)(nil)

// serveRetentionUsage is the retention paragraph of serve's usage.
const serveRetentionUsage = `
serve deletes old evidence in the background (a pass a minute, in bounded
batches, each its own transaction, while ingest goes on): what is older
than --retain (default 7d; 0 keeps everything), measured from the earlier
of now and the latest stored evidence, and, while the store's data take
more than --max-store-bytes (default 0: no limit), the oldest evidence
left. Stored reports are never deleted, nor what they cite: the findings
they cite or list, the evidence those findings cite, and the whole trace
of a cited span. The size counted is the DuckDB file's used blocks (after
a checkpoint) plus its write-ahead log; the file itself does not shrink
(freed blocks are reused), so its size on disk may exceed the limit by
the space freed but not yet reused (docs/retention.md).`

// retentionFlags are serve's retention flags. They are parsed by hand so
// that an error names the flag, never the value.
type retentionFlags struct {
	retain   rawFlag
	maxBytes rawFlag
}

// rawFlag keeps a flag's text for parsing after flag.Parse.
type rawFlag struct {
	s   string
	set bool
}

func (f *rawFlag) String() string { return f.s }

func (f *rawFlag) Set(s string) error {
	f.s, f.set = s, true
	return nil
}

func addRetentionFlags(fs *flag.FlagSet) *retentionFlags {
	rf := &retentionFlags{retain: rawFlag{s: "7d"}, maxBytes: rawFlag{s: "0"}}
	fs.Var(&rf.retain, "retain", "delete evidence older than this (a duration such as 72h, or days such as 7d; 0: keep everything); stored reports and what they cite stay")
	fs.Var(&rf.maxBytes, "max-store-bytes", "delete the oldest evidence while the store's data take more than this many bytes (suffixes k, M, G, T = 1000^n; Ki, Mi, Gi, Ti = 1024^n; at least 16Mi; 0: no limit); see docs/retention.md for what it can promise")
	return rf
}

// config validates the flags into a retention config.
func (rf *retentionFlags) config() (retention.Config, error) {
	cfg := retention.DefaultConfig()
	age, err := parseAge(rf.retain.s)
	if err != nil {
		return cfg, usagef("--retain: %v", err)
	}
	n, err := parseByteSize(rf.maxBytes.s)
	if err != nil {
		return cfg, usagef("--max-store-bytes: %v", err)
	}
	cfg.MaxAge, cfg.MaxBytes = age, n
	switch {
	case age > 0 && age < time.Minute:
		return cfg, usagef("--retain: must be at least 1m, or 0 to keep everything")
	case n > 0 && n < retention.MinMaxBytes:
		return cfg, usagef("--max-store-bytes: must be at least 16Mi, or 0 for no limit")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("--retain/--max-store-bytes: %v", err)
	}
	return cfg, nil
}

// parseAge parses a Go duration or a number of days ("7d").
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || n > 100*365 {
			return 0, fmt.Errorf("want a duration such as 72h or a number of days such as 7d")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 72h or a number of days such as 7d")
	}
	return d, nil
}

// byteUnits are the size suffixes, case-insensitive, longest first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// parseByteSize parses a byte count with an optional suffix (20Gi, 500MB,
// 1.5G, 1048576).
func parseByteSize(s string) (int64, error) {
	bad := fmt.Errorf("want a byte count such as 20Gi, 500MB or 1073741824")
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	if t == "" {
		return 0, bad
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/mult {
			return 0, bad
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) >= math.MaxInt64 || math.IsNaN(f) {
		return 0, bad
	}
	return int64(f * float64(mult)), nil
}

// startRetention runs the retention passes until ctx ends or the
// returned stop is called; stop returns once the runner has stopped.
func startRetention(ctx context.Context, st *duckdb.Store, cfg retention.Config, logger *slog.Logger) (stop func(), err error) {
	if !cfg.Enabled() {
		return func() {}, nil
	}
	r, err := retention.NewRunner(st, cfg, logger)
	if err != nil {
		return nil, err
	}
	logger.Info("retention on", "max_age", cfg.MaxAge, "max_store_bytes", cfg.MaxBytes, "every", cfg.Every)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}, nil
}
