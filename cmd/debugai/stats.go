package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

const statsUsage = `stats [flags]

Prints what the evidence store holds: schema version, counts per table,
services and the time range. Works while serve runs.`

func runStats(ctx context.Context, args []string, env *cmdEnv) error {
	return readCommand(ctx, "stats", statsUsage, args, env, func(r evidence.Reader, store string, asJSON bool) error {
		st, err := r.Stats(ctx)
		if err != nil {
			return fmt.Errorf("reading stats: %w", err)
		}
		if asJSON {
			return printJSON(env.stdout, st)
		}
		printStats(env.stdout, store, st)
		return nil
	})
}

func printStats(w io.Writer, store string, st evidence.Stats) {
	fmt.Fprintf(w, "store %s (schema v%d)\n", store, st.SchemaVersion)
	fmt.Fprintf(w, "  traces:        %d\n  spans:         %d\n  span events:   %d\n  kernel events: %d\n  lock edges:    %d\n  logs:          %d\n  resources:     %d\n",
		st.Traces, st.Spans, st.SpanEvents, st.KernelEvents, st.LockEdges, st.Logs, st.Resources)
	if len(st.Services) > 0 {
		fmt.Fprintf(w, "  services:      %s\n", strings.Join(st.Services, ", "))
	}
	if st.MinStartNS > 0 {
		fmt.Fprintf(w, "  time range:    %s .. %s\n", time.Unix(0, st.MinStartNS).UTC().Format(time.RFC3339Nano), time.Unix(0, st.MaxEndNS).UTC().Format(time.RFC3339Nano))
	}
}
