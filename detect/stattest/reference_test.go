package stattest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedTestdata returns a path under ../shared/testdata, skipping the test
// when that folder is absent (it always exists in CI).
func sharedTestdata(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s not found (it lives beside the repository in CI): %v", p, err)
	}
	return p
}

type refValue struct {
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"pvalue"`
}

type reference struct {
	KS []map[string]json.RawMessage `json:"ks_2samp"`
	BH []struct {
		PValues   []float64 `json:"pvalues"`
		Alpha     float64   `json:"alpha"`
		Reject    []bool    `json:"reject"`
		PAdjusted []float64 `json:"p_adjusted"`
	} `json:"benjamini_hochberg"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile(sharedTestdata(t, "stats/ks_bh_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// relClose reports |got-want| <= tol*|want| (exact for want == 0).
func relClose(got, want, tol float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// TestKSReference checks every case of scipy 1.10.1's ks_2samp: the
// statistic exactly, the p-value to 1e-12 relative.
func TestKSReference(t *testing.T) {
	ref := loadReference(t)
	if len(ref.KS) != 7 {
		t.Fatalf("want 7 KS cases, got %d", len(ref.KS))
	}
	checked := 0
	for _, c := range ref.KS {
		var name string
		var x, y []float64
		mustUnmarshal(t, c["name"], &name)
		mustUnmarshal(t, c["x"], &x)
		mustUnmarshal(t, c["y"], &y)
		for key, raw := range c {
			method, alt, ok := strings.Cut(key, "/")
			if !ok {
				continue
			}
			var want refValue
			mustUnmarshal(t, raw, &want)
			t.Run(name+"/"+key, func(t *testing.T) {
				got, err := KS2Samp(x, y, KSOptions{Alternative: Alternative(alt), Method: Method(method)})
				if err != nil {
					t.Fatal(err)
				}
				if got.Statistic != want.Statistic {
					t.Errorf("statistic %v, want %v", got.Statistic, want.Statistic)
				}
				if !relClose(got.PValue, want.PValue, 1e-12) {
					t.Errorf("p-value %.17g, want %.17g (rel err %.3g)", got.PValue, want.PValue,
						math.Abs(got.PValue-want.PValue)/want.PValue)
				}
			})
			checked++
		}
	}
	if checked != 63 {
		t.Fatalf("checked %d cases, want 63", checked)
	}
}

func mustUnmarshal(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// TestBHReference checks statsmodels' multipletests(method="fdr_bh").
func TestBHReference(t *testing.T) {
	ref := loadReference(t)
	if len(ref.BH) != 8 {
		t.Fatalf("want 8 BH cases, got %d", len(ref.BH))
	}
	for i, c := range ref.BH {
		got, err := BenjaminiHochberg(c.PValues, c.Alpha)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !slices.Equal(got.Reject, c.Reject) {
			t.Errorf("case %d: reject %v, want %v", i, got.Reject, c.Reject)
		}
		for j := range c.PAdjusted {
			if !relClose(got.Adjusted[j], c.PAdjusted[j], 1e-12) {
				t.Errorf("case %d[%d]: adjusted %.17g, want %.17g", i, j, got.Adjusted[j], c.PAdjusted[j])
			}
		}
	}
}
