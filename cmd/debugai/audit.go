package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/debugai/debugai/evidence"
)

const auditUsage = `audit [flags]

Prints what the privacy layer did with every attribute key it met, per
source (resource, span, span_event, log, kernel): how many values it kept,
tokenized, normalized, redacted (PII replaced in a kept value), dropped and
truncated (cut to a length limit, counted besides the value's action).
Keys are attribute names, never values. Works while serve runs.`

func runAudit(ctx context.Context, args []string, env *cmdEnv) error {
	return readCommand(ctx, "audit", auditUsage, args, env, func(r evidence.Reader, _ string, asJSON bool) error {
		rows, err := r.Audit(ctx)
		if err != nil {
			return fmt.Errorf("reading audit: %w", err)
		}
		if asJSON {
			return printJSON(env.stdout, rows)
		}
		return printAudit(env.stdout, rows)
	})
}

func printAudit(w io.Writer, rows []evidence.AuditCount) error {
	totals := map[string]int64{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKEY\tACTION\tCOUNT")
	for _, a := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", a.Source, a.Key, a.Action, a.Count)
		totals[a.Action] += a.Count
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ntotals: keep %d, tokenize %d, normalize %d, redact %d, drop %d, truncate %d\n",
		totals["keep"], totals["tokenize"], totals["normalize"], totals["redact"], totals["drop"], totals["truncate"])
	return nil
}
