package attribution

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/debugai/debugai/detect/stattest"
)

// plantedItems: n items over hosts h1..h5, versions v1/v2, regions r1..r3;
// slow with probability base, or hot on host h2.
func plantedItems(r *rand.Rand, n int, base, hot float64) []Item {
	items := make([]Item, n)
	for i := range items {
		host := fmt.Sprintf("h%d", 1+r.IntN(5))
		p := base
		if host == "h2" {
			p = hot
		}
		items[i] = Item{
			ID:   fmt.Sprintf("span:%032x/%016x", i, i),
			Slow: r.Float64() < p,
			Dims: map[string]string{
				"host":    host,
				"version": []string{"v1", "v2"}[r.IntN(2)],
				"region":  fmt.Sprintf("r%d", 1+r.IntN(3)),
			},
		}
	}
	return items
}

func TestSlicePlanted(t *testing.T) {
	for _, n := range []int{400, 20000} { // Fisher and z-test regimes
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(n)))
			rep, err := Slice(plantedItems(r, n, 0.08, 0.45), DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Tested) != 5+2+3 {
				t.Fatalf("tested %d pairs, want 10", len(rep.Tested))
			}
			if len(rep.Significant) != 1 {
				t.Fatalf("significant %+v, want host=h2 only", rep.Significant)
			}
			o := rep.Significant[0]
			wantTest := TestFisher
			if n > DefaultConfig().ExactMaxN {
				wantTest = TestZ
			}
			if o.Subject() != "host=h2" || o.Test != wantTest || o.Lift < 2 || o.Q > 1e-4 || len(o.Exemplars) != 5 {
				t.Errorf("got %+v", o)
			}
			if o.Items+0 == 0 || o.Rate != float64(o.Slow)/float64(o.Items) || o.DimItems != n {
				t.Errorf("counts %+v", o)
			}
		})
	}
}

func TestSliceSwitchRule(t *testing.T) {
	// 5000 items on "host": a rare value (10 items, expected slow count 1)
	// gets Fisher, common values (expected counts ≫ 5) the z-test.
	var items []Item
	for i := range 5000 {
		h := fmt.Sprintf("h%d", i%4)
		if i < 10 {
			h = "rare"
		}
		items = append(items, Item{Slow: i%10 == 0 || (h == "rare" && i%2 == 0), Dims: map[string]string{"host": h}})
	}
	rep, err := Slice(items, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]Test{}
	for _, o := range rep.Tested {
		tests[o.Value] = o.Test
	}
	want := map[string]Test{"rare": TestFisher, "h0": TestZ, "h1": TestZ, "h2": TestZ, "h3": TestZ}
	if !reflect.DeepEqual(tests, want) {
		t.Errorf("tests %v, want %v", tests, want)
	}
	// rare: 10 items, 5 slow (i = 0, 2, 4, 6, 8), exactly as Fisher says.
	for _, o := range rep.Tested {
		if o.Value == "rare" {
			p, _ := FisherGreater(o.Slow, o.Items-o.Slow, o.DimSlow-o.Slow, o.DimItems-o.Items-(o.DimSlow-o.Slow))
			if o.Slow != 5 || o.P != p {
				t.Errorf("rare %+v, fisher p %v", o, p)
			}
		}
	}
	// Everything through Fisher when ExactMaxN covers the dimension.
	cfg := DefaultConfig()
	cfg.ExactMaxN = 5000
	rep, _ = Slice(items, cfg)
	for _, o := range rep.Tested {
		if o.Test != TestFisher {
			t.Errorf("%s: %s with ExactMaxN 5000", o.Subject(), o.Test)
		}
	}
}

func TestSliceBH(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	items := plantedItems(r, 3000, 0.1, 0.2)
	cfg := DefaultConfig()
	cfg.MinLift = 1
	rep, err := Slice(items, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]float64, len(rep.Tested))
	for i, o := range rep.Tested {
		ps[i] = o.P
	}
	bh, err := stattest.BenjaminiHochberg(ps, cfg.Alpha)
	if err != nil {
		t.Fatal(err)
	}
	var nsig int
	for i, o := range rep.Tested {
		if o.Q != bh.Adjusted[i] || o.Significant != (bh.Reject[i] && o.Lift >= 1 && o.Slow > 0) {
			t.Errorf("%s: q %v sig %v, BH %v %v", o.Subject(), o.Q, o.Significant, bh.Adjusted[i], bh.Reject[i])
		}
		if o.Significant {
			nsig++
		}
	}
	if nsig != len(rep.Significant) || nsig == 0 {
		t.Errorf("%d significant in Tested, %d reported", nsig, len(rep.Significant))
	}
	// A raw p below alpha can be rejected or not depending on the others:
	// q ≥ p always.
	for _, o := range rep.Tested {
		if o.Q < o.P {
			t.Errorf("%s: q %v < p %v", o.Subject(), o.Q, o.P)
		}
	}
}

func TestSliceOrderAndEdges(t *testing.T) {
	// Two values with a planted effect of different lift; a third dimension
	// present on only some items; empty values and names ignored.
	r := rand.New(rand.NewPCG(8, 8))
	var items []Item
	for i := range 1000 {
		d := map[string]string{"host": fmt.Sprintf("h%d", i%10), "": "x", "zone": ""}
		slow := r.IntN(20) == 0
		switch i % 10 {
		case 3:
			slow = slow || i%30 < 20 // i%30 in {3, 13, 23}: 2/3 slow, lift ≈ 4.5
		case 7:
			slow = slow || i%30 < 10 // i%30 in {7, 17, 27}: 1/3 slow, lift ≈ 2.3
		}
		if i%2 == 0 {
			d["kernel"] = "6.1"
			if i%4 == 0 {
				d["kernel"] = "6.8"
			}
		}
		items = append(items, Item{ID: fmt.Sprintf("span:%d", i), Slow: slow, Dims: d})
	}
	rep, err := Slice(items, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, o := range rep.Significant {
		subjects = append(subjects, o.Subject())
	}
	if want := []string{"host=h3", "host=h7"}; !reflect.DeepEqual(subjects, want) {
		t.Errorf("significant %v, want %v", subjects, want)
	}
	var tested []string
	for _, o := range rep.Tested {
		tested = append(tested, o.Subject())
		if o.Dimension == "kernel" && o.DimItems != 500 {
			t.Errorf("kernel counted over %d items, want 500", o.DimItems)
		}
	}
	if !slices.IsSorted(tested) || len(tested) != 12 {
		t.Errorf("tested %v", tested)
	}
	// Repeated runs (map iteration order varies) give the same report.
	for range 5 {
		again, _ := Slice(items, DefaultConfig())
		if !reflect.DeepEqual(rep, again) {
			t.Fatal("slice report differs between runs")
		}
	}
}

func TestSliceDegenerate(t *testing.T) {
	if _, err := Slice(nil, DefaultConfig()); !errors.Is(err, ErrNoItems) {
		t.Errorf("no items: %v", err)
	}
	bad := DefaultConfig()
	bad.Alpha = 0
	if _, err := Slice([]Item{{}}, bad); err == nil {
		t.Error("bad config accepted")
	}
	// Nothing slow: everything tested, nothing significant, lift 0.
	var items []Item
	for i := range 100 {
		items = append(items, Item{Dims: map[string]string{"host": fmt.Sprint(i % 3)}})
	}
	rep, err := Slice(items, DefaultConfig())
	if err != nil || len(rep.Tested) != 3 || len(rep.Significant) != 0 || rep.Tested[0].Lift != 0 || rep.Tested[0].P != 1 {
		t.Errorf("nothing slow: %+v %v", rep, err)
	}
	// One value per dimension: no rest, nothing to test.
	rep, err = Slice([]Item{{Slow: true, Dims: map[string]string{"v": "a"}}}, DefaultConfig())
	if err != nil || len(rep.Tested) != 0 || rep.Slow != 1 {
		t.Errorf("single value: %+v %v", rep, err)
	}
}
