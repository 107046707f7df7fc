package hint_test

import (
	"strings"
	"testing"
)

// TestDependencyFree enforces ARCHITECTURE.md: services import hint, so it
// depends on nothing but the standard library.
func TestDependencyFree(t *testing.T) {
	out := run(t, ".", goTool(t), "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	for _, p := range strings.Fields(out) {
		if p != "github.com/debugai/debugai/hint" {
			t.Errorf("hint depends on %s", p)
		}
	}
}
