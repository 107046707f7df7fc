package repotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
}

const module = "github.com/debugai/debugai"

var (
	duckdbModules = []string{"github.com/duckdb/duckdb-go", "github.com/marcboeker/go-duckdb"}
	llmModules    = []string{"github.com/sashabaranov/go-openai", "github.com/openai/openai-go"}
	mcpModules    = []string{"github.com/mark3labs/mcp-go", "github.com/modelcontextprotocol/go-sdk"}
)

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func within(path string, roots ...string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// TestDependencyRules enforces ARCHITECTURE.md: evidence, privacy, correlate
// and detect import no LLM, MCP or DuckDB package; only evidence/duckdb
// imports DuckDB; cmd/debugai-node links neither DuckDB nor an LLM client.
func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		r := rel(p.ImportPath)
		pure := within(r, "evidence", "privacy", "correlate", "detect") && !within(r, "evidence/duckdb")
		for _, d := range p.Deps {
			if pure && within(d, append(append(duckdbModules, llmModules...), mcpModules...)...) {
				t.Errorf("%s depends on %s: evidence, privacy, correlate and detect must not use DuckDB, LLM or MCP packages", r, d)
			}
			if within(r, "cmd/debugai-node") && within(d, append(duckdbModules, llmModules...)...) {
				t.Errorf("%s links %s: the node collector must link neither DuckDB nor an LLM client", r, d)
			}
		}
		for _, imp := range p.Imports {
			if within(imp, duckdbModules...) && !within(r, "evidence/duckdb") {
				t.Errorf("%s imports %s: only evidence/duckdb may import DuckDB", r, imp)
			}
		}
	}
}

// TestRulesCatchViolations checks the checker itself on made-up packages.
func TestRulesCatchViolations(t *testing.T) {
	if !within("github.com/duckdb/duckdb-go/v2", duckdbModules...) {
		t.Error("duckdb-go/v2 not recognised as DuckDB")
	}
	if within("evidence/duckdb", "evidence") && !within("evidence/duckdb", "evidence/duckdb") {
		t.Error("prefix logic broken")
	}
	if within("evidencex", "evidence") {
		t.Error("within matched a sibling with a common prefix")
	}
}
