// Command debugai is the trace-aware debugger's analyzer: it receives
// OpenTelemetry traces and the node collector's kernel events, stores
// privacy-filtered evidence in one DuckDB file, and (in later subcommands)
// detects, investigates and reports. main only wires signals and exit codes;
// each subcommand lives in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError marks errors caused by how the command was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var es exitStatus
	if errors.As(err, &es) {
		fmt.Fprintln(stderr, "debugai:", es.msg)
		return es.code
	}
	fmt.Fprintln(stderr, "debugai:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env *cmdEnv) error
}

// cmdEnv is what every subcommand gets: its streams and the process env.
type cmdEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = map[string]command{
	"serve":        {"receive OTLP traces and kernel events into the evidence store", runServe},
	"import":       {"import OTLP/JSON-lines or protobuf files into the evidence store", runImport},
	"audit":        {"print what the privacy layer kept, tokenized, normalized and dropped", runAudit},
	"stats":        {"print what the evidence store holds", runStats},
	"bench":        {"measure ingest throughput and memory (bench ingest)", runBench},
	"token":        {"print the privacy tokens of an identifier (current and previous epochs)", runToken},
	"changepoints": {"print the change points of a latency series (pelt, binseg, bocpd)", runChangepoints},
	"detect":       {"run the detectors over a time window, store and print the findings", runDetect},
	"demo":         {"replay a recorded incident and print its verified root-cause report (no root, network or model)", runDemo},
	"investigate":  {"detect, investigate and print a verified root-cause report (deterministic, or --llm)", runInvestigate},
	"eval":         {"evaluate the investigator on incident bundles against their truth.json (AC@k, false root causes)", runEval},
	"workload":     {"serve a demo workload for benchmarks (workload mutex)", runWorkload},
	"record":       {"record a real incident bundle of the bank workload with debugai-node (needs root)", runRecord},
	"mcp":          {"serve the read-only investigation tools over MCP on stdio (for IDEs)", runMCP},
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &cmdEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, []string{"--help"}, env)
			}
		}
		printUsage(stdout)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		printUsage(stderr)
		return usagef("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], env)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `debugai: a trace-aware debugger for production-only bugs.

Usage: debugai <command> [flags]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run "debugai <command> --help" for a command's flags.
`)
}
