package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/debugai/debugai/agent"
	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/evidence"
)

// evalBundle imports, detects and investigates one bundle in a temporary
// store, then scores the outcome when the bundle has a truth.
func evalBundle(ctx context.Context, in evalInput, f *investigateFlags, logger *slog.Logger, env *cmdEnv) (res eval.Result, err error) {
	start := time.Now()
	res = eval.Result{Bundle: in.bundle.Dir, Name: in.bundle.Name(), Truth: in.truth}
	tmp, err := os.MkdirTemp("", "debugai-eval-")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	store := filepath.Join(tmp, "bundle.duckdb")
	plan, err := importBundle(ctx, in.bundle.Dir, "", store, env)
	if err != nil {
		return res, err
	}
	if res.Compared, err = detectQuietly(ctx, store, "", "", "", "", plan, env); err != nil {
		return res, err
	}
	out, err := investigateForEval(ctx, store, plan, f, logger, env, &res)
	if err != nil {
		return res, err
	}
	shifts, err := eval.SelfTimeIncrease(in.bundle)
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	res.Baseline = shifts[:min(len(shifts), eval.MaxListed)]
	if len(shifts) > 0 {
		out.Baseline = &shifts[0].Candidate
	}
	if in.truth != nil {
		sc := eval.ScoreOutcome(*in.truth, out)
		res.Score = &sc
	}
	res.TotalMS = time.Since(start).Milliseconds()
	fmt.Fprintf(env.stderr, "eval: %s: %s%s, %d candidate(s), %s%s\n", res.Name, res.Status, stopNote(res.StopReason), len(out.Candidates),
		time.Since(start).Round(time.Millisecond), tokensNote(res.Tokens))
	return res, nil
}

// stopNote says why an unconfirmed investigation ended.
func stopNote(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// investigateForEval runs the investigator over the store, fills res's
// investigation fields and returns the outcome to score.
func investigateForEval(ctx context.Context, store string, plan *analyze.Plan, f *investigateFlags, logger *slog.Logger, env *cmdEnv, res *eval.Result) (eval.Outcome, error) {
	var out eval.Outcome
	r, closeR, err := openWritableReader(ctx, store, logger)
	if err != nil {
		return out, err
	}
	defer closeR()
	scope, err := incidentScope(ctx, r, "", "", "", "", "", plan)
	if err != nil {
		return out, err
	}
	ar, err := runInvestigator(ctx, r, scope, f, logger, env)
	if err != nil {
		return out, err
	}
	res.Status, res.StopReason, res.Attempts, res.Tokens = string(ar.Status), ar.StopReason, ar.Attempts, ar.Tokens
	res.InvestigateMS = ar.Elapsed.Milliseconds()
	out.Accepted = ar.Status == hypothesis.Accepted
	if ar.Hypothesis != nil {
		a := eval.CandidateOf(ar.Hypothesis)
		out.Answer, res.Answer = &a, &a
		if res.Cited, res.Resolved, err = eval.Citations(ctx, r, ar.Hypothesis); err != nil {
			return out, err
		}
	}
	if out.Candidates, err = rankedCandidates(ctx, r, scope, f, out.Answer); err != nil {
		return out, err
	}
	res.Candidates = out.Candidates[:min(len(out.Candidates), eval.MaxListed)]
	return out, nil
}

// rankedCandidates are the deterministic investigator's ranked
// candidates; an LLM's only candidate is its answer.
func rankedCandidates(ctx context.Context, r evidence.Reader, scope hypothesis.Scope, f *investigateFlags, answer *eval.Candidate) ([]eval.Candidate, error) {
	if *f.llm {
		if answer == nil {
			return nil, nil
		}
		return []eval.Candidate{*answer}, nil
	}
	fr, ok := r.(agent.FindingLister)
	if !ok {
		return nil, errors.New("this store cannot list findings")
	}
	cs, err := agent.NewDeterministic(fr, r).Candidates(ctx, agent.Incident{Scope: scope})
	if err != nil {
		return nil, err
	}
	out := make([]eval.Candidate, len(cs))
	for i, c := range cs {
		out[i] = eval.Candidate{Service: c.Location.Service, Operation: c.Location.Endpoint, Pattern: string(c.Pattern)}
	}
	return out, nil
}
