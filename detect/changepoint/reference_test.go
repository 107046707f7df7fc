package changepoint

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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

type referenceCPs struct {
	Dataset string `json:"dataset"`
	PELT    []int  `json:"pelt"`
	BinSeg  []int  `json:"binseg"`
	BOCPD   []int  `json:"bocpd"`
}

func loadReferences(t testing.TB) (dir string, refs []referenceCPs) {
	t.Helper()
	dir = sharedTestdata(t, "changepoint")
	f, err := os.Open(filepath.Join(dir, "reference_cps.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r referenceCPs
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 14 {
		t.Fatalf("want 14 reference series, got %d", len(refs))
	}
	return dir, refs
}

func loadSeries(t testing.TB, dir, name string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "series", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ReadSeries(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Dims) != 1 {
		t.Fatalf("%s: %d dimensions", name, len(s.Dims))
	}
	return s.Dims[0]
}

// TestReferenceTCPD checks every detector against the outputs of the R
// reference implementations on the 14 TCPD series, exactly.
func TestReferenceTCPD(t *testing.T) {
	dir, refs := loadReferences(t)
	for _, ref := range refs {
		x := loadSeries(t, dir, ref.Dataset)
		t.Run(ref.Dataset, func(t *testing.T) {
			for _, tc := range []struct {
				method string
				run    func() ([]int, error)
				want   []int
			}{
				{"pelt", func() ([]int, error) { return PELT(x, DefaultPELTConfig()) }, ref.PELT},
				{"binseg", func() ([]int, error) { return BinSeg(x, DefaultBinSegConfig()) }, ref.BinSeg},
				{"bocpd", func() ([]int, error) { return BOCPD(x, DefaultBOCPDConfig()) }, ref.BOCPD},
			} {
				got, err := tc.run()
				if err != nil {
					t.Errorf("%s: %v", tc.method, err)
					continue
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: got %v\nwant %v", tc.method, got, tc.want)
				}
			}
		})
	}
}
