package patterns

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/debugai/debugai/evidence"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/*.txtar")

// TestScenarios runs every testdata/*.txtar scenario (format in
// scenario_parse_test.go): Analyze over the input section with the
// scenario's settings, then the expect/expect-no assertions of the input
// section, then the golden want section (rewritten with -update).
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

func runScenario(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseScenario(ar)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(sc.expects) == 0 {
		t.Fatalf("%s: no expect or expect-no lines: a scenario must assert something", file)
	}
	finds, _, err := Analyze(sc.in, sc.cfg)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	checkFindings(t, finds)
	for _, e := range sc.expects {
		e.check(t, finds)
	}
	got := render(finds)
	want := section(ar, "want")
	if *update {
		setSection(ar, "want", got)
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		t.Errorf("findings differ from the want section (run with -update after checking):\n--- got\n%s--- want\n%s", got, want)
	}
}

// checkFindings asserts the invariants every finding must hold.
func checkFindings(t *testing.T, fs []evidence.Finding) {
	t.Helper()
	for _, f := range fs {
		if f.ID != evidence.NewFindingID(f.Kind, f.Subject, f.Refs) {
			t.Errorf("%s %s: id %s is not NewFindingID's", f.Kind, f.Subject, f.ID)
		}
		if !(f.Confidence >= 0 && f.Confidence <= 1) {
			t.Errorf("%s %s: confidence %v outside [0, 1]", f.Kind, f.Subject, f.Confidence)
		}
		if len(f.Refs) == 0 || f.Summary == "" || strings.Contains(f.Summary, "\n") {
			t.Errorf("%s %s: needs refs and a one-line summary", f.Kind, f.Subject)
		}
		for _, r := range f.Refs {
			if r.ID == "" || r.Line == "" || r.Line == evidence.LineUnclassified {
				t.Errorf("%s %s: bad ref %+v", f.Kind, f.Subject, r)
			}
		}
	}
}

// expectation is one expect/expect-no line.
type expectation struct {
	line    string
	kind    string
	subject string // "" with none
	none    bool
	refs    []string
}

func (e expectation) check(t *testing.T, fs []evidence.Finding) {
	t.Helper()
	var match []evidence.Finding
	for _, f := range fs {
		if f.Kind == e.kind && (e.subject == "" || f.Subject == e.subject) {
			match = append(match, f)
		}
	}
	if e.none {
		for _, f := range match {
			t.Errorf("%q: unexpected finding %s %q: %s", e.line, f.Kind, f.Subject, f.Summary)
		}
		return
	}
	if len(match) == 0 {
		t.Errorf("%q: no such finding; got:\n%s", e.line, render(fs))
		return
	}
	for _, want := range e.refs {
		if !slices.ContainsFunc(match[0].Refs, func(r evidence.Ref) bool { return r.ID == want }) {
			t.Errorf("%q: finding does not cite %s; refs %v", e.line, shortID(want), match[0].Refs)
		}
	}
}

// render prints findings in the want section's format.
func render(fs []evidence.Finding) string {
	if len(fs) == 0 {
		return "(no findings)\n"
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s %q score=%.4g confidence=%.3f\n", f.Kind, f.Subject, f.Score, f.Confidence)
		fmt.Fprintf(&b, "  summary: %s\n", f.Summary)
		if f.Service != "" || f.Operation != "" {
			fmt.Fprintf(&b, "  location: %s / %s\n", f.Service, f.Operation)
		}
		byLine := map[evidence.Line][]string{}
		var lines []evidence.Line
		for _, r := range f.Refs {
			if byLine[r.Line] == nil {
				lines = append(lines, r.Line)
			}
			byLine[r.Line] = append(byLine[r.Line], shortID(r.ID))
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s: %s\n", l, strings.Join(byLine[l], " "))
		}
		keys := make([]string, 0, len(f.Attrs))
		for k := range f.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var attrs []string
		for _, k := range keys {
			attrs = append(attrs, fmt.Sprintf("%s=%.4g", k, f.Attrs[k]))
		}
		fmt.Fprintf(&b, "  attrs: %s\n", strings.Join(attrs, " "))
	}
	return b.String()
}

var zeros = regexp.MustCompile(`\b0+([0-9a-f])`)

// shortID drops the leading zeros of span ids: span:a1/b2.
func shortID(id string) string {
	if !strings.HasPrefix(id, "span:") {
		return id
	}
	return "span:" + zeros.ReplaceAllString(strings.TrimPrefix(id, "span:"), "$1")
}

func section(ar *txtar.Archive, name string) string {
	for _, f := range ar.Files {
		if f.Name == name {
			return string(f.Data)
		}
	}
	return ""
}

func setSection(ar *txtar.Archive, name, data string) {
	for i := range ar.Files {
		if ar.Files[i].Name == name {
			ar.Files[i].Data = []byte(data)
			return
		}
	}
	ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(data)})
}
