package incidents_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/eval/incidents"
)

// TestCorpus2Halves: the halves are disjoint, of equal size, each with
// one control; every recorded shop-* bundle is in exactly one half, and
// its truth.json names a root cause (or "none" for the controls) and, for
// each secondary cause, a service and a pattern.
func TestCorpus2Halves(t *testing.T) {
	if len(incidents.Corpus2Dev) != len(incidents.Corpus2Sealed) {
		t.Errorf("halves of %d and %d bundles", len(incidents.Corpus2Dev), len(incidents.Corpus2Sealed))
	}
	for _, name := range incidents.Corpus2Dev {
		if slices.Contains(incidents.Corpus2Sealed, name) {
			t.Errorf("%s is in both halves", name)
		}
	}
	dirs, err := filepath.Glob("shop-*")
	if err != nil {
		t.Fatal(err)
	}
	controls := map[string]int{}
	for _, dir := range dirs {
		half := "dev"
		switch {
		case slices.Contains(incidents.Corpus2Dev, dir):
		case slices.Contains(incidents.Corpus2Sealed, dir):
			half = "sealed"
		default:
			t.Errorf("bundle %s is in neither half", dir)
			continue
		}
		truth, err := eval.ReadTruth(dir) // checks the fields, the patterns and the secondary causes
		if err != nil || truth == nil {
			t.Errorf("%s: truth %v, %v", dir, truth, err)
			continue
		}
		if truth.Pattern == "" || truth.InjectTimeUTC == "" {
			t.Errorf("%s: truth %+v", dir, truth)
		}
		if truth.Control() {
			controls[half]++
		}
		for _, f := range []string{"baseline.otlp.jsonl.gz", "incident.otlp.jsonl.gz", "kernel.otlp.jsonl.gz", "manifest.json"} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %s missing or empty (%v)", dir, f, err)
			}
		}
	}
	for half, n := range controls {
		if n > 1 {
			t.Errorf("%s half: %d controls, want at most 1", half, n)
		}
	}
}
