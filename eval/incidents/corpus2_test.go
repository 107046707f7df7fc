package incidents_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/eval/incidents"
)

// TestCorpusHalves: for corpus 2 (shop-*), corpus 3 (shop3-*), corpus 4
// (media-*) and corpus 5 (ride-*), the
// halves are disjoint, of equal size, each with one control; every listed
// bundle is recorded and every recorded bundle is in exactly one half, and its truth.json names a root
// cause (or "none" for the controls) and, for each secondary cause, a
// service and a pattern.
func TestCorpusHalves(t *testing.T) {
	for _, c := range []struct {
		glob        string
		dev, sealed []string
	}{
		{"shop-*", incidents.Corpus2Dev, incidents.Corpus2Sealed},
		{"shop3-*", incidents.Corpus3Dev, incidents.Corpus3Sealed},
		{"media-*", incidents.Corpus4Dev, incidents.Corpus4Sealed},
		{"ride-*", incidents.Corpus5Dev, incidents.Corpus5Sealed},
	} {
		t.Run(c.glob, func(t *testing.T) { checkHalves(t, c.glob, c.dev, c.sealed) })
	}
}

func checkHalves(t *testing.T, glob string, dev, sealed []string) {
	if len(dev) != len(sealed) {
		t.Errorf("halves of %d and %d bundles", len(dev), len(sealed))
	}
	for _, name := range dev {
		if slices.Contains(sealed, name) {
			t.Errorf("%s is in both halves", name)
		}
	}
	dirs, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Concat(dev, sealed) {
		if !slices.Contains(dirs, name) {
			t.Errorf("%s: listed, not recorded", name)
		}
	}
	controls := map[string]int{}
	for _, dir := range dirs {
		half := "dev"
		switch {
		case slices.Contains(dev, dir):
		case slices.Contains(sealed, dir):
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
