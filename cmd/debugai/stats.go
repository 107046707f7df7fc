package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

const statsUsage = `stats [flags]

Prints what the evidence store holds: schema version, counts per table,
services and the time range. Works while serve runs.`

func runStats(ctx context.Context, args []string, env *cmdEnv) (err error) {
	fs := newFlagSet("stats", statsUsage, env)
	store := storeFlag(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("stats takes no arguments, got %q", fs.Args())
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	r, closeR, err := openReader(ctx, *store, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeR()) }()
	st, err := r.Stats(ctx)
	if err != nil {
		return fmt.Errorf("reading stats: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	w := env.stdout
	fmt.Fprintf(w, "store %s (schema v%d)\n", *store, st.SchemaVersion)
	fmt.Fprintf(w, "  traces:        %d\n  spans:         %d\n  span events:   %d\n  kernel events: %d\n  lock edges:    %d\n  logs:          %d\n  resources:     %d\n",
		st.Traces, st.Spans, st.SpanEvents, st.KernelEvents, st.LockEdges, st.Logs, st.Resources)
	if len(st.Services) > 0 {
		fmt.Fprintf(w, "  services:      %s\n", strings.Join(st.Services, ", "))
	}
	if st.MinStartNS > 0 {
		fmt.Fprintf(w, "  time range:    %s .. %s\n", time.Unix(0, st.MinStartNS).UTC().Format(time.RFC3339Nano), time.Unix(0, st.MaxEndNS).UTC().Format(time.RFC3339Nano))
	}
	return nil
}
