package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/report"
)

// reportOutput says where and how a report goes.
type reportOutput struct {
	dir         string // folder; "" makes a new one
	asJSON      bool   // print JSON, not Markdown
	jiraProject string // also write a Jira payload for this project
}

// defaultReportDir is a new folder for a report beside the default store:
// $XDG_DATA_HOME/debugai/reports/<UTC time>.
func defaultReportDir(env *cmdEnv) string {
	dir := filepath.Join(filepath.Dir(defaultStore(&cmdEnv{getenv: func(k string) string {
		if k == "DEBUGAI_STORE" {
			return ""
		}
		return env.getenv(k)
	}})), "reports")
	return filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000Z"))
}

// emitReport writes the report's files to o.dir (a new folder by default),
// stores it when the store takes reports, and prints it.
func emitReport(ctx context.Context, r evidence.Reader, rep *report.Report, o reportOutput, env *cmdEnv) error {
	out, asJSON := o.dir, o.asJSON
	body, err := report.JSON(*rep)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if out == "" {
		out = defaultReportDir(env)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating the report folder: %w", err)
	}
	var mdOpts report.MarkdownOptions
	files := map[string][]byte{"report.json": body}
	if svg, err := report.TimelineSVG(*rep); err == nil {
		files["timeline.svg"], mdOpts.TimelineChart = svg, "timeline.svg"
	} else if !errors.Is(err, report.ErrNoChart) {
		return err
	}
	if svg, err := report.LatencySVG(*rep); err == nil {
		files["latency.svg"], mdOpts.LatencyChart = svg, "latency.svg"
	} else if !errors.Is(err, report.ErrNoChart) {
		return err
	}
	md := report.Markdown(*rep, mdOpts)
	files["report.md"] = []byte(md)
	gh, err := jsonIndent(report.GitHub(*rep, mdOpts))
	if err != nil {
		return err
	}
	files["github-issue.json"] = gh
	if o.jiraProject != "" {
		ji, err := report.Jira(*rep, report.JiraOptions{Project: o.jiraProject})
		if err != nil {
			return fmt.Errorf("jira payload: %w", err)
		}
		if files["jira-issue.json"], err = jsonIndent(ji); err != nil {
			return err
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	stored := storeReport(ctx, r, rep, body)
	if asJSON {
		env.stdout.Write(body)
		fmt.Fprintln(env.stdout)
	} else {
		fmt.Fprint(env.stdout, md)
	}
	fmt.Fprintf(env.stderr, "investigate: report in %s (report.md, report.json%s)%s\n", out, chartNote(files), stored)
	return nil
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	return append(b, '\n'), nil
}

func chartNote(files map[string][]byte) string {
	s := ""
	for _, n := range []string{"timeline.svg", "latency.svg"} {
		if files[n] != nil {
			s += ", " + n
		}
	}
	return s + ", github-issue.json"
}

// storeReport keeps the report in the store (MCP resources list it) when
// the store takes writes; it says what happened.
func storeReport(ctx context.Context, r evidence.Reader, rep *report.Report, body []byte) string {
	w, ok := r.(evidence.ReportWriter)
	if !ok {
		return ""
	}
	sr, err := analyze.StoreReport(ctx, w, *rep, body, time.Now().UnixNano())
	if err != nil {
		return "; not stored: " + err.Error()
	}
	return "; stored as " + sr.ID
}
