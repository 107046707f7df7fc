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
