package attribution

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// deployGroups: components cpu, lock, net in ns; B adds lock wait to a
// third of the requests.
func deployGroups(n int, lockNS float64) (a, b [][]float64) {
	r := rand.New(rand.NewPCG(2, 3))
	for i := range n {
		cpu := 2e6 + 1e5*float64(r.IntN(10))
		net := 1e6 + 1e5*float64(r.IntN(5))
		a = append(a, []float64{cpu, 1e5, net})
		lock := 1e5
		if i%3 == 0 {
			lock += lockNS
		}
		b = append(b, []float64{cpu, lock, net})
	}
	return a, b
}

func TestAttributionFinding(t *testing.T) {
	a, b := deployGroups(300, 8e6)
	att, err := Attribute([]string{"cpu", "lock", "net"}, a, b, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if att.Contributions[0].Component != "lock" || att.Contributions[0].Share < 0.9 {
		t.Fatalf("contributions %+v", att.Contributions)
	}
	scope := Scope{
		Endpoint: "checkout GET /cart", From: "v1.24.6", To: "v1.24.7",
		ExemplarIDs: []string{"span:aa/01", "span:aa/02"},
		DeployIDs:   []string{"deploy:checkout/v1.24.7"},
	}
	fs, err := att.Findings(scope)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Kind != KindAttribution || f.Subject != "checkout GET /cart v1.24.6..v1.24.7" {
		t.Errorf("kind %q subject %q", f.Kind, f.Subject)
	}
	wantRefs := []evidence.Ref{{ID: "span:aa/01", Line: evidence.LineTrace}, {ID: "span:aa/02", Line: evidence.LineTrace}, {ID: "deploy:checkout/v1.24.7", Line: evidence.LineDeploy}}
	if fmt.Sprint(f.Refs) != fmt.Sprint(wantRefs) {
		t.Errorf("refs %v", f.Refs)
	}
	if f.ID != evidence.NewFindingID(KindAttribution, f.Subject, wantRefs) {
		t.Errorf("id %s not content-derived", f.ID)
	}
	if f.Attrs["delta_ns:lock"] != att.Contributions[0].Delta || f.Attrs["delta_ns"] != att.Delta || f.Attrs["ks_p"] > 0.05 {
		t.Errorf("attrs %v", f.Attrs)
	}
	if !strings.Contains(f.Summary, "p95 latency rose +") || !strings.Contains(f.Summary, "lock +") {
		t.Errorf("summary %q", f.Summary)
	}
	if f.Confidence < 0.95 || f.Score < 0.05 {
		t.Errorf("score %v confidence %v", f.Score, f.Confidence)
	}

	// Same input, same finding.
	att2, _ := Attribute([]string{"cpu", "lock", "net"}, a, b, DefaultConfig())
	fs2, _ := att2.Findings(scope)
	if fs2[0].ID != f.ID || fs2[0].Summary != f.Summary {
		t.Error("finding not deterministic")
	}

	if _, err := att.Findings(Scope{Endpoint: "x"}); !errors.Is(err, ErrNoRefs) {
		t.Errorf("no refs: %v", err)
	}
	if _, err := att.Findings(Scope{ExemplarIDs: []string{"span:x"}}); err == nil {
		t.Error("empty endpoint accepted")
	}
}

func TestAttributionFindingGates(t *testing.T) {
	scope := Scope{Endpoint: "e", From: "a", To: "b", ExemplarIDs: []string{"span:1"}}
	// Identical groups: no change, no finding.
	a, _ := deployGroups(100, 0)
	att, err := Attribute([]string{"cpu", "lock", "net"}, a, a, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if fs, err := att.Findings(scope); err != nil || len(fs) != 0 {
		t.Errorf("no change: %v %v", fs, err)
	}
	// CPU 2% slower on every item: KS rejects, but the p95 changes by less
	// than MinRelChange.
	a, _ = deployGroups(2000, 0)
	var b [][]float64
	for _, row := range a {
		b = append(b, []float64{row[0] * 1.02, row[1], row[2]})
	}
	att, _ = Attribute([]string{"cpu", "lock", "net"}, a, b, DefaultConfig())
	if fs, _ := att.Findings(scope); len(fs) != 0 || att.KS.PValue > 0.05 {
		t.Errorf("small change made %v (ks p %v)", fs, att.KS.PValue)
	}
	// Too few items for KS to reject a large change.
	att, _ = Attribute([]string{"x"}, [][]float64{{1}, {2}}, [][]float64{{2}, {3}}, DefaultConfig())
	if fs, _ := att.Findings(scope); len(fs) != 0 || att.KS.PValue <= 0.05 {
		t.Errorf("two items made %v (ks %v)", fs, att.KS.PValue)
	}
}

func TestSliceFindings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 400))
	rep, err := Slice(plantedItems(r, 400, 0.08, 0.45), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fs := rep.Findings(func(o *Overrep) []evidence.Ref {
		if o.Dimension == "host" {
			return []evidence.Ref{{ID: "deploy:host/" + o.Value, Line: evidence.LineDeploy}}
		}
		return nil
	})
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	o := rep.Significant[0]
	if f.Kind != KindOverrepresented || f.Subject != "host=h2" || f.Score != o.Lift || f.Confidence != 1-o.Q {
		t.Errorf("finding %+v", f)
	}
	if len(f.Refs) != 6 || f.Refs[0] != (evidence.Ref{ID: o.Exemplars[0], Line: evidence.LineTrace}) || f.Refs[5].Line != evidence.LineDeploy {
		t.Errorf("refs %v", f.Refs)
	}
	if f.ID != evidence.NewFindingID(KindOverrepresented, "host=h2", f.Refs) {
		t.Error("id not content-derived")
	}
	if !strings.Contains(f.Summary, "fisher test") || f.Attrs["lift"] != o.Lift {
		t.Errorf("summary %q attrs %v", f.Summary, f.Attrs)
	}
	// Without IDs and extra refs there is nothing to cite: no finding.
	items := plantedItems(rand.New(rand.NewPCG(1, 400)), 400, 0.08, 0.45)
	for i := range items {
		items[i].ID = ""
	}
	rep, _ = Slice(items, DefaultConfig())
	if len(rep.Significant) != 1 || len(rep.Findings(nil)) != 0 {
		t.Errorf("uncitable: %d significant, %d findings", len(rep.Significant), len(rep.Findings(nil)))
	}
}
