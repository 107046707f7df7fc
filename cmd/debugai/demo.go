package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/debugai/debugai/eval/incidents"
)

const demoUsage = `demo [--out DIR] [--json]

Replays an incident recorded on a real kernel (eval/incidents/convoy: a
ledger service holding a mutex across fdatasync while transfers queue
behind it, with the node collector's futex, scheduler and block events)
into a fresh store in a temporary folder, runs the detectors and the
deterministic investigator, and prints the verified report. Needs no root,
no network and no model; the report's files go to --out.`

func runDemo(ctx context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("demo", demoUsage, env)
	out := fs.String("out", "", "folder for the report's files (default: $XDG_DATA_HOME/debugai/reports/<time>)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("demo takes no arguments, got %q", fs.Args())
	}
	tmp, err := os.MkdirTemp("", "debugai-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bundle := filepath.Join(tmp, incidents.DemoName)
	if err := extractDemo(bundle); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "demo: replaying the recorded %q incident (eval/incidents/%s)\n", incidents.DemoName, incidents.DemoName)
	args = []string{"--bundle", bundle}
	if *out != "" {
		args = append(args, "--out", *out)
	}
	if *asJSON {
		args = append(args, "--json")
	}
	return runInvestigate(ctx, args, env)
}

// extractDemo writes the embedded bundle to dir.
func extractDemo(dir string) error {
	sub, err := fs.Sub(incidents.Demo, incidents.DemoName)
	if err != nil {
		return err
	}
	if err := os.CopyFS(dir, sub); err != nil {
		return fmt.Errorf("extracting the demo bundle: %w", err)
	}
	return nil
}
