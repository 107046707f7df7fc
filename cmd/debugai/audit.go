package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
)

const auditUsage = `audit [flags]

Prints what the privacy layer did with every attribute key it met, per
source (resource, span, span_event, log, kernel): how many values it kept,
tokenized, normalized, redacted (PII replaced in a kept value) and dropped.
Keys are attribute names, never values. Works while serve runs.`

func runAudit(ctx context.Context, args []string, env *cmdEnv) (err error) {
	fs := newFlagSet("audit", auditUsage, env)
	store := storeFlag(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit takes no arguments, got %q", fs.Args())
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
	rows, err := r.Audit(ctx)
	if err != nil {
		return fmt.Errorf("reading audit: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	totals := map[string]int64{}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKEY\tACTION\tCOUNT")
	for _, a := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", a.Source, a.Key, a.Action, a.Count)
		totals[a.Action] += a.Count
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "\ntotals: keep %d, tokenize %d, normalize %d, redact %d, drop %d\n",
		totals["keep"], totals["tokenize"], totals["normalize"], totals["redact"], totals["drop"])
	return nil
}
