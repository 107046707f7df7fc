package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./report -update if intended)\n--- got\n%s", name, got)
	}
}

// outputs renders every output of a report, keyed by golden file suffix.
func outputs(t *testing.T, r report.Report) map[string][]byte {
	t.Helper()
	md := report.MarkdownOptions{TimelineChart: "timeline.svg", LatencyChart: "latency.svg"}
	js, err := report.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	jira, err := report.Jira(r, report.JiraOptions{Project: "OPS"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{
		"md":          []byte(report.Markdown(r, md)),
		"json":        js,
		"github.json": indentJSON(t, report.GitHub(r, md)),
		"jira.json":   indentJSON(t, jira),
	}
	if svg, err := report.TimelineSVG(r); err == nil {
		out["timeline.svg"] = svg
	} else if !errors.Is(err, report.ErrNoChart) {
		t.Fatal(err)
	}
	if svg, err := report.LatencySVG(r); err == nil {
		out["latency.svg"] = svg
	} else if !errors.Is(err, report.ErrNoChart) {
		t.Fatal(err)
	}
	return out
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

type reportCase struct {
	name string
	h    hypothesis.Hypothesis
	v    verify.Verdict
	// outputs the case must have (charts are optional).
	want []string
}

func reportCases() []reportCase {
	ah, av := acceptedCase()
	uh, uv := unconfirmedCase()
	all := []string{"md", "json", "github.json", "jira.json", "timeline.svg"}
	return []reportCase{
		{"accepted", ah, av, append(all, "latency.svg")},
		{"unconfirmed", uh, uv, all},
	}
}

// TestReports builds both reports from one DuckDB store and checks every
// output against its golden file, JSON round trips, SVG well-formedness
// and the planted text's inertness.
func TestReports(t *testing.T) {
	st := openFixture(t)
	ctx := context.Background()
	for _, tc := range reportCases() {
		t.Run(tc.name, func(t *testing.T) {
			r, err := report.Build(ctx, st, tc.h, tc.v, report.Options{Scope: scope, GeneratedAtNS: t0 + 11*minute})
			if err != nil {
				t.Fatal(err)
			}
			outs := outputs(t, r)
			for _, suffix := range tc.want {
				got, ok := outs[suffix]
				if !ok {
					t.Errorf("no %s output", suffix)
					continue
				}
				golden(t, tc.name+"."+suffix, got)
			}
			checkRoundTrip(t, r, outs["json"])
			for suffix, b := range outs {
				if strings.HasSuffix(suffix, ".svg") {
					checkXML(t, suffix, b)
				}
				checkInert(t, suffix, b)
			}
		})
	}
}

func checkRoundTrip(t *testing.T, r report.Report, b []byte) {
	t.Helper()
	back, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip changed the report")
	}
	again, _ := report.JSON(back)
	if !bytes.Equal(again, b) {
		t.Errorf("JSON round trip is not byte-stable")
	}
}

// checkXML decodes the whole document with encoding/xml.
func checkXML(t *testing.T, name string, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	depth, root := 0, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = el.Name.Local
			}
			if el.Name.Local == "script" || el.Name.Local == "foreignObject" {
				t.Errorf("%s has a <%s> element", name, el.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if root != "svg" || depth != 0 {
		t.Errorf("%s: root %q, depth %d at end", name, root, depth)
	}
}

// checkInert checks that the planted span name is inert in an output:
// Markdown holds no raw '<' and no live emphasis or link from it, JSON
// escapes it (and a GitHub body obeys the Markdown rules), SVG escapes it.
func checkInert(t *testing.T, name string, b []byte) {
	t.Helper()
	s := string(b)
	if strings.Contains(s, "<script") {
		t.Errorf("%s contains a raw <script", name)
	}
	switch {
	case strings.HasSuffix(name, ".svg"):
		if strings.HasSuffix(name, "timeline.svg") && !strings.Contains(s, "SQL &lt;/svg&gt;&lt;script&gt;") {
			t.Errorf("%s: planted span name not drawn escaped", name)
		}
	case strings.HasSuffix(name, "json"):
		if !json.Valid(b) || strings.ContainsAny(s, "<>&") {
			t.Errorf("%s: invalid JSON or raw HTML characters", name)
		}
		var gh report.GitHubIssue
		if name == "github.json" {
			if err := json.Unmarshal(b, &gh); err != nil {
				t.Fatal(err)
			}
			checkInert(t, "github body md", []byte(gh.Body))
		}
	default: // Markdown
		if strings.Contains(s, "<") {
			t.Errorf("%s contains a raw '<'", name)
		}
		for _, line := range strings.Split(s, "\n") {
			// Code spans are data: literal, never markup.
			line = stripCodeSpans(line)
			if strings.Contains(line, "ignore previous") &&
				(!strings.Contains(line, `\*bold\*`) || strings.Contains(strings.ReplaceAll(line, `\]`, ""), "](javascript")) {
				t.Errorf("%s: planted Markdown not escaped: %q", name, line)
			}
		}
	}
}

// TestUnconfirmedIsNeverRootCause checks the wording of an unconfirmed
// report in every human-facing output.
func TestUnconfirmedIsNeverRootCause(t *testing.T) {
	uh, uv := unconfirmedCase()
	cases := []struct {
		v    verify.Verdict
		want report.Status
	}{
		{uv, report.StatusUnconfirmed},
		{verify.Verdict{Status: hypothesis.Unconfirmed}, report.StatusUnconfirmed},
		{verify.Verdict{}, report.StatusUnconfirmed},
		{verify.Verdict{Status: hypothesis.Accepted}, report.StatusAccepted},
	}
	st := openFixture(t)
	for _, tc := range cases {
		r, err := report.Build(context.Background(), st, uh, tc.v, report.Options{Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tc.want {
			t.Errorf("verdict %q: status %q, want %q", tc.v.Status, r.Status, tc.want)
		}
		md := report.Markdown(r, report.MarkdownOptions{})
		if tc.want == report.StatusUnconfirmed && (strings.Contains(md, "## Root cause") || strings.Contains(r.Title, "Root cause")) {
			t.Errorf("verdict %q: unconfirmed report presents a root cause", tc.v.Status)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    report.Options
		ok   bool
	}{
		{"zero", report.Options{}, true},
		{"no findings", report.Options{TopFindings: -1}, true},
		{"bad findings", report.Options{TopFindings: -2}, false},
		{"negative bound", report.Options{MaxTimeline: -1}, false},
		{"empty scope", report.Options{Scope: hypothesis.Scope{SinceNS: 5, UntilNS: 5}}, false},
		{"empty baseline", report.Options{BaselineSinceNS: 9, BaselineUntilNS: 3}, false},
	}
	for _, tc := range cases {
		err := tc.o.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, report.ErrOptions)) {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestParseRejectsOtherSchemas(t *testing.T) {
	for _, in := range []string{`{"schema":"debugai.report/v2"}`, `{"schema":"debugai.report/v1","bogus":1}`, `[`} {
		if _, err := report.Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) succeeded", in)
		}
	}
	if _, err := report.Parse([]byte(`{"schema":"debugai.report/v2"}`)); !errors.Is(err, report.ErrSchema) {
		t.Errorf("v2: error %v, want ErrSchema", err)
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		status report.Status
		policy report.FailOn
		want   int
		err    bool
	}{
		{"", report.FailOnNone, report.ExitOK, false},
		{"", report.FailOnAccepted, report.ExitOK, false},
		{"", report.FailOnAny, report.ExitOK, false},
		{report.StatusAccepted, report.FailOnNone, report.ExitOK, false},
		{report.StatusAccepted, report.FailOnAccepted, report.ExitRootCause, false},
		{report.StatusAccepted, report.FailOnAny, report.ExitRootCause, false},
		{report.StatusUnconfirmed, report.FailOnNone, report.ExitOK, false},
		{report.StatusUnconfirmed, report.FailOnAccepted, report.ExitOK, false},
		{report.StatusUnconfirmed, report.FailOnAny, report.ExitUnconfirmed, false},
		{report.StatusAccepted, "always", report.ExitUsage, true},
		{"rejected", report.FailOnAny, report.ExitError, true},
	}
	for _, tc := range cases {
		got, err := report.ExitCode(tc.status, tc.policy)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ExitCode(%q, %q) = %d, %v; want %d, error %v", tc.status, tc.policy, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, report.ErrPolicy) {
			t.Errorf("ExitCode(%q, %q): error %v does not wrap ErrPolicy", tc.status, tc.policy, err)
		}
	}
	if _, err := report.ParseFailOn("Accepted"); err == nil {
		t.Error(`ParseFailOn("Accepted") succeeded: policies are lower-case`)
	}
}

func TestJiraNeedsProject(t *testing.T) {
	if _, err := report.Jira(report.Report{}, report.JiraOptions{}); !errors.Is(err, report.ErrOptions) {
		t.Errorf("Jira without project: error %v, want ErrOptions", err)
	}
}

func TestChartsMissing(t *testing.T) {
	if _, err := report.TimelineSVG(report.Report{}); !errors.Is(err, report.ErrNoChart) {
		t.Errorf("TimelineSVG: %v", err)
	}
	if _, err := report.LatencySVG(report.Report{}); !errors.Is(err, report.ErrNoChart) {
		t.Errorf("LatencySVG: %v", err)
	}
}

// stripCodeSpans removes the code spans of a Markdown line (a run of n
// backticks up to the next run of exactly n).
func stripCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] == '`' {
			j++
		}
		fence := line[i:j]
		end := -1
		for k := j; k < len(line); {
			m := strings.Index(line[k:], fence)
			if m < 0 {
				break
			}
			k += m
			e := k + len(fence)
			if (k == 0 || line[k-1] != '`') && (e >= len(line) || line[e] != '`') {
				end = e
				break
			}
			for k < len(line) && line[k] == '`' {
				k++
			}
		}
		if end < 0 {
			b.WriteString(fence)
			i = j
			continue
		}
		i = end
	}
	return b.String()
}
