package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/debugai/debugai/agent"
	"github.com/debugai/debugai/eval"
)

const evalUsage = `eval [--json] [--out FILE] [--llm ...] DIR...

Evaluates the investigator on incident bundles. Each folder is imported
into a fresh temporary store, detected and investigated (deterministic, or
--llm with the same flags as investigate), then scored against its
truth.json: the rank of the root-cause service among the investigator's
ranked candidates (AC@1/3/5; also the operation and pattern when the truth
states them), whether the verifier accepted, accepted false root causes
(a wrong service, or anything accepted on a control whose
root_cause_service is "none"), the share of cited evidence IDs that
resolve, time and tokens. Beside it a trivial baseline: the
service/operation whose span self time rose most between the baseline and
incident files (or the two halves of the incident when there is no
baseline). Bundles without truth.json are investigated and listed but not
scored.

Prints Markdown tables (or --json) and writes the JSON to --out.
Exit codes: 0 done, 1 error, 2 usage or a folder that is not a bundle or
whose truth.json is bad.`

// evalInput is one bundle to evaluate, checked before any work starts.
type evalInput struct {
	bundle eval.Bundle
	truth  *eval.Truth
}

// evalOutput is the JSON document eval prints and writes.
type evalOutput struct {
	Investigator string        `json:"investigator"`
	Results      []eval.Result `json:"results"`
	Summary      eval.Summary  `json:"summary"`
}

func runEval(ctx context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("eval", evalUsage, env)
	asJSON := fs.Bool("json", false, "print the results as JSON instead of Markdown tables")
	out := fs.String("out", "", "also write the results as JSON to this file")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	f := &investigateFlags{llmCfg: agent.LLMConfigFromEnv()}
	addLLMFlags(fs, f)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("eval needs at least one bundle folder")
	}
	if *f.llm {
		if err := f.llmCfg.Validate(); err != nil {
			return usagef("eval --llm: %v", err)
		}
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	inputs, err := evalInputs(fs.Args())
	if err != nil {
		return err
	}
	doc := evalOutput{Investigator: investigatorName(f)}
	for _, in := range inputs {
		r, err := evalBundle(ctx, in, f, logger, env)
		if err != nil {
			return fmt.Errorf("eval %s: %w", in.bundle.Dir, err)
		}
		doc.Results = append(doc.Results, r)
	}
	doc.Summary = eval.Summarize(doc.Results)
	return writeEval(doc, *asJSON, *out, env)
}

// evalInputs checks every folder before any work: each must be a bundle,
// and its truth.json (when present) must parse.
func evalInputs(dirs []string) ([]evalInput, error) {
	var ins []evalInput
	for _, dir := range dirs {
		b, err := eval.OpenBundle(dir)
		if err != nil {
			return nil, usagef("eval: %v", err)
		}
		t, err := eval.ReadTruth(dir)
		if err != nil {
			return nil, usagef("eval: bundle %s: %v", dir, err)
		}
		ins = append(ins, evalInput{bundle: b, truth: t})
	}
	return ins, nil
}

// investigatorName is "deterministic" or "llm:<model>".
func investigatorName(f *investigateFlags) string {
	if *f.llm {
		return "llm:" + f.llmCfg.Model
	}
	return "deterministic"
}

// writeEval prints the results (tables or JSON) and writes the JSON to out.
func writeEval(doc evalOutput, asJSON bool, out string, env *cmdEnv) error {
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the results: %w", err)
	}
	body = append(body, '\n')
	if out != "" {
		if err := os.WriteFile(out, body, 0o644); err != nil {
			return fmt.Errorf("writing the results: %w", err)
		}
	}
	if asJSON {
		_, err = env.stdout.Write(body)
		return err
	}
	fmt.Fprintf(env.stdout, "Investigator: %s\n\n", doc.Investigator)
	eval.WriteTable(env.stdout, doc.Results, doc.Summary)
	return nil
}
