package eval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNotBundle reports a folder that holds no OTLP files.
var ErrNotBundle = errors.New("not an incident bundle")

// otlpPatterns are the file names a bundle's OTLP files match.
var otlpPatterns = []string{"*.otlp.jsonl.gz", "*.otlp.jsonl", "*.otlp.pb.gz", "*.otlp.pb"}

// Bundle is an incident bundle folder and its OTLP files by role.
type Bundle struct {
	Dir string
	// Baseline files hold a fault-free period ("baseline" in the name).
	Baseline []string
	// Incident files hold the period to explain (incident.*, traces.* or
	// any other OTLP file that is neither baseline nor kernel).
	Incident []string
	// Kernel files hold the node collector's OTLP logs (kernel.*).
	Kernel []string
}

// OpenBundle lists the OTLP files of dir by role. A folder with none is
// ErrNotBundle; a missing folder is the file system's error.
func OpenBundle(dir string) (Bundle, error) {
	b := Bundle{Dir: dir}
	if fi, err := os.Stat(dir); err != nil {
		return b, err
	} else if !fi.IsDir() {
		return b, fmt.Errorf("%s: is a file, not a folder: %w", dir, ErrNotBundle)
	}
	for _, pat := range otlpPatterns {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return b, fmt.Errorf("%s: %w", dir, err)
		}
		for _, f := range m {
			switch base := strings.ToLower(filepath.Base(f)); {
			case strings.HasPrefix(base, "kernel"):
				b.Kernel = append(b.Kernel, f)
			case strings.Contains(base, "baseline"):
				b.Baseline = append(b.Baseline, f)
			default:
				b.Incident = append(b.Incident, f)
			}
		}
	}
	if len(b.Files()) == 0 {
		return b, fmt.Errorf("%s: no *.otlp.jsonl(.gz) or *.otlp.pb(.gz) files: %w", dir, ErrNotBundle)
	}
	return b, nil
}

// Files returns every OTLP file of the bundle, sorted.
func (b Bundle) Files() []string {
	all := slices.Concat(b.Baseline, b.Incident, b.Kernel)
	slices.Sort(all)
	return all
}

// Name is the bundle's folder name.
func (b Bundle) Name() string { return filepath.Base(filepath.Clean(b.Dir)) }

// BaselineUntilNS is where the bundle's baseline ends for the detectors'
// baseline/current comparison (`debugai detect --baseline-until`): the
// earliest span start in its incident files, so that every span of the
// baseline files, and nothing of the incident files, falls before it. It
// is 0 when the bundle has no baseline files or its incident files no
// spans.
func (b Bundle) BaselineUntilNS() (int64, error) {
	if len(b.Baseline) == 0 {
		return 0, nil
	}
	spans, err := readSpans(b.Incident)
	if err != nil {
		return 0, err
	}
	var first int64
	for _, s := range spans {
		if s.start > 0 && (first == 0 || s.start < first) {
			first = s.start
		}
	}
	return first, nil
}
