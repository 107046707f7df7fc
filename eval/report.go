package eval

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is one bundle's evaluation.
type Result struct {
	Bundle string `json:"bundle"` // folder
	Name   string `json:"name"`   // folder name
	Truth  *Truth `json:"truth,omitempty"`
	// Compared says what the incident was compared with (windows, span and
	// trace counts, where the baseline came from).
	Compared string `json:"compared,omitempty"`
	// Status is the investigation's: "accepted" or "unconfirmed";
	// StopReason says why an unconfirmed one ended ("budget: steps", ...).
	Status     string     `json:"status"`
	StopReason string     `json:"stop_reason,omitempty"`
	Answer     *Candidate `json:"answer,omitempty"`
	// Candidates are the investigator's ranked candidates (at most
	// MaxListed).
	Candidates []Candidate `json:"candidates,omitempty"`
	// Cited and Resolved count the answer's distinct citations and those
	// that resolve to stored evidence.
	Cited    int `json:"cited"`
	Resolved int `json:"resolved"`
	Attempts int `json:"attempts"`
	Tokens   int `json:"tokens"`
	// InvestigateMS is the investigator's time; TotalMS adds import and
	// detection.
	InvestigateMS int64 `json:"investigate_ms"`
	TotalMS       int64 `json:"total_ms"`
	// Baseline is the trivial baseline's ranking (at most MaxListed).
	Baseline []SelfTimeShift `json:"baseline,omitempty"`
	// Score is nil for a bundle without truth.json.
	Score *Score `json:"score,omitempty"`
}

// MaxListed bounds the candidates and baseline entries a Result keeps.
const MaxListed = 10

// AC is top-k accuracy over N bundles.
type AC struct {
	N   int     `json:"n"`
	At1 float64 `json:"ac_at_1"`
	At3 float64 `json:"ac_at_3"`
	At5 float64 `json:"ac_at_5"`
}

// add counts one bundle whose truth is at rank (0: missed).
func (a *AC) add(rank int) {
	a.N++
	a.At1 += float64(b2i(rank >= 1 && rank <= 1))
	a.At3 += float64(b2i(rank >= 1 && rank <= 3))
	a.At5 += float64(b2i(rank >= 1 && rank <= 5))
}

// finish turns counts into shares.
func (a *AC) finish() {
	if a.N > 0 {
		a.At1, a.At3, a.At5 = a.At1/float64(a.N), a.At3/float64(a.N), a.At5/float64(a.N)
	}
}

// Summary aggregates the scored bundles.
type Summary struct {
	Bundles  int `json:"bundles"`
	Scored   int `json:"scored"`
	Controls int `json:"controls"`
	// Service, Operation and Pattern are AC@k over the scored bundles
	// with a root cause (and, for the latter two, a truth stating them).
	Service   AC `json:"service"`
	Operation AC `json:"operation"`
	Pattern   AC `json:"pattern"`
	// Accepted counts accepted hypotheses over scored bundles;
	// AcceptedCorrect those on the root-cause service; FalseRootCauses
	// the others, controls included.
	Accepted        int `json:"accepted"`
	AcceptedCorrect int `json:"accepted_correct"`
	FalseRootCauses int `json:"false_root_causes"`
	// CitationsOK is the share of all cited IDs that resolve (1 when
	// nothing was cited).
	CitationsOK float64 `json:"citations_ok"`
	TotalMS     int64   `json:"total_ms"`
	Tokens      int     `json:"tokens"`
	// Baseline is the trivial baseline's AC@1 on the service, and
	// BaselineOperation on the operation where the truth names one.
	Baseline          AC `json:"baseline"`
	BaselineOperation AC `json:"baseline_operation"`
}

// Summarize aggregates results.
func Summarize(rs []Result) Summary {
	var s Summary
	cited, resolved := 0, 0
	for _, r := range rs {
		s.Bundles++
		s.TotalMS += r.TotalMS
		s.Tokens += r.Tokens
		cited, resolved = cited+r.Cited, resolved+r.Resolved
		if r.Score == nil {
			continue
		}
		sc := r.Score
		s.Scored++
		s.Accepted += b2i(sc.Accepted)
		s.AcceptedCorrect += b2i(sc.AcceptedCorrect)
		s.FalseRootCauses += b2i(sc.FalseRootCause)
		if r.Truth.Control() {
			s.Controls++
			continue
		}
		s.Service.add(sc.ServiceRank)
		if sc.OperationRank != nil {
			s.Operation.add(*sc.OperationRank)
		}
		if sc.PatternRank != nil {
			s.Pattern.add(*sc.PatternRank)
		}
		s.Baseline.add(b2i(sc.BaselineHit))
		if sc.BaselineOperationHit != nil {
			s.BaselineOperation.add(b2i(*sc.BaselineOperationHit))
		}
	}
	for _, a := range []*AC{&s.Service, &s.Operation, &s.Pattern, &s.Baseline, &s.BaselineOperation} {
		a.finish()
	}
	s.CitationsOK = 1
	if cited > 0 {
		s.CitationsOK = float64(resolved) / float64(cited)
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WriteTable prints the results and the summary as Markdown tables.
func WriteTable(w io.Writer, rs []Result, s Summary) {
	fmt.Fprintln(w, "| bundle | truth | top-1 | rank | accepted | citations ok | baseline top-1 | time |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		truth, rank := "(none)", "-"
		if r.Truth != nil {
			truth = Candidate{Service: r.Truth.RootCauseService, Operation: r.Truth.RootCauseOperation}.String()
		}
		if r.Score != nil && !r.Truth.Control() {
			rank = rankText(r.Score.ServiceRank)
		}
		top, base := "-", "-"
		if len(r.Candidates) > 0 {
			top = r.Candidates[0].String()
		}
		if len(r.Baseline) > 0 {
			base = r.Baseline[0].String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d/%d | %s | %s |\n", r.Name, cell(truth), cell(top), rank,
			acceptedText(r), r.Resolved, r.Cited, cell(base), time.Duration(r.TotalMS)*time.Millisecond)
	}
	fmt.Fprintf(w, "\n%d bundle(s), %d scored (%d control(s)); %s in all", s.Bundles, s.Scored, s.Controls, time.Duration(s.TotalMS)*time.Millisecond)
	if s.Tokens > 0 {
		fmt.Fprintf(w, ", %d tokens", s.Tokens)
	}
	fmt.Fprint(w, ".\n\n| metric | debugai | largest self-time increase |\n|---|---|---|\n")
	fmt.Fprintf(w, "| service AC@1 / AC@3 / AC@5 (n=%d) | %s | %s |\n", s.Service.N, acText(s.Service), pct(s.Baseline.At1))
	if s.Operation.N > 0 {
		fmt.Fprintf(w, "| operation AC@1 / AC@3 / AC@5 (n=%d) | %s | %s |\n", s.Operation.N, acText(s.Operation), pct(s.BaselineOperation.At1))
	}
	if s.Pattern.N > 0 {
		fmt.Fprintf(w, "| pattern AC@1 / AC@3 / AC@5 (n=%d) | %s | - |\n", s.Pattern.N, acText(s.Pattern))
	}
	fmt.Fprintf(w, "| accepted (correct service) | %d (%d) | - |\n", s.Accepted, s.AcceptedCorrect)
	fmt.Fprintf(w, "| accepted false root causes | %d | - |\n", s.FalseRootCauses)
	fmt.Fprintf(w, "| citations that resolve | %s | - |\n", pct(s.CitationsOK))
}

func acceptedText(r Result) string {
	switch {
	case r.Status != "accepted":
		return "no"
	case r.Score != nil && r.Score.FalseRootCause:
		return "yes (FALSE: " + cell(r.Answer.String()) + ")"
	default:
		return "yes"
	}
}

func rankText(r int) string {
	if r == 0 {
		return "miss"
	}
	return fmt.Sprint(r)
}

func acText(a AC) string { return pct(a.At1) + " / " + pct(a.At3) + " / " + pct(a.At5) }

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// cell escapes a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
