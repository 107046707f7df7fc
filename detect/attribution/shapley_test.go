package attribution

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func cfgWith(stat Statistic) Config {
	cfg := DefaultConfig()
	cfg.Statistic = stat
	return cfg
}

// byName maps component name to Shapley value.
func byName(a Attribution) map[string]float64 {
	m := map[string]float64{}
	for _, c := range a.Contributions {
		m[c.Component] = c.Delta
	}
	return m
}

func TestShapleyHandComputed(t *testing.T) {
	// k=2. A = {[10,0], [0,10]} (totals 10, 10: ties keep input order),
	// B = {[30,0], [0,20]} (totals 30, 20: rank order b1, b0).
	// Pairs by rank of total: (a0=[10,0], b1=[0,20]), (a1=[0,10], b0=[30,0]).
	// Hybrid totals per coalition (components in S from B):
	//   ∅: {10, 10}   {x}: {0+0, 30+10} = {0, 40}   {y}: {10+20, 0+0} = {30, 0}   N: {20, 30}
	// max:  v = 10, 40, 30, 30 → φx = ½(40−10) + ½(30−30) = 15, φy = ½(30−10) + ½(30−40) = 5.
	// p95 (type 7, two values: lo + 0.95(hi−lo)): v = 10, 38, 28.5, 29.5 →
	//   φx = ½(38−10) + ½(29.5−28.5) = 14.5, φy = ½(28.5−10) + ½(29.5−38) = 5.
	// p50: v = 10, 20, 15, 25 → φx = ½·10 + ½·10 = 10, φy = ½·5 + ½·5 = 5.
	comps2 := []string{"x", "y"}
	a2 := [][]float64{{10, 0}, {0, 10}}
	b2 := [][]float64{{30, 0}, {0, 20}}

	// k=3, max. A = {[1,1,1], [2,2,2]}, B = {[10,1,1], [2,5,8]}: pairs
	// (a0,b0) and (a1,b1), hybrid totals 3 + 9[x∈S] and 6 + 3[y∈S] + 6[z∈S].
	// v: ∅ 6, x 12, y 9, z 12, xy 12, xz 12, yz 15, xyz 15. Weights 1/3,
	// 1/6, 1/6, 1/3 for |S| = 0, 1, 1, 2:
	//   φx = (12−6)/3 + (12−9)/6 + (12−12)/6 + (15−15)/3 = 2.5
	//   φy = (9−6)/3 + (12−12)/6 + (15−12)/6 + (15−12)/3 = 2.5
	//   φz = (12−6)/3 + (12−12)/6 + (15−9)/6 + (15−12)/3 = 4
	comps3 := []string{"x", "y", "z"}
	a3 := [][]float64{{1, 1, 1}, {2, 2, 2}}
	b3 := [][]float64{{10, 1, 1}, {2, 5, 8}}

	tests := []struct {
		name      string
		comps     []string
		a, b      [][]float64
		stat      Statistic
		statA     float64
		statB     float64
		want      map[string]float64
		wantOrder []string
	}{
		{"k2 max", comps2, a2, b2, StatMax, 10, 30, map[string]float64{"x": 15, "y": 5}, []string{"x", "y"}},
		{"k2 p95", comps2, a2, b2, StatP95, 10, 29.5, map[string]float64{"x": 14.5, "y": 5}, []string{"x", "y"}},
		{"k2 p50", comps2, a2, b2, StatP50, 10, 25, map[string]float64{"x": 10, "y": 5}, []string{"x", "y"}},
		{"k2 mean", comps2, a2, b2, StatMean, 10, 25, map[string]float64{"x": 10, "y": 5}, []string{"x", "y"}},
		{"k3 max", comps3, a3, b3, StatMax, 6, 15, map[string]float64{"x": 2.5, "y": 2.5, "z": 4}, []string{"z", "x", "y"}},
		// additive because the mean is: per-component mean deltas 5, 1.5, 3.
		{"k3 mean", comps3, a3, b3, StatMean, 4.5, 13.5, map[string]float64{"x": 4.5, "y": 1.5, "z": 3}, []string{"x", "z", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Attribute(tt.comps, tt.a, tt.b, cfgWith(tt.stat))
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.StatA, tt.statA, 1e-12) || !near(got.StatB, tt.statB, 1e-12) || !near(got.Delta, tt.statB-tt.statA, 1e-12) {
				t.Errorf("stat %v → %v (Δ %v), want %v → %v", got.StatA, got.StatB, got.Delta, tt.statA, tt.statB)
			}
			for c, w := range tt.want {
				if g := byName(got)[c]; !near(g, w, 1e-12) {
					t.Errorf("φ_%s = %v, want %v", c, g, w)
				}
			}
			var order []string
			var share float64
			for _, c := range got.Contributions {
				order = append(order, c.Component)
				share += c.Share
			}
			if !reflect.DeepEqual(order, tt.wantOrder) {
				t.Errorf("order %v, want %v", order, tt.wantOrder)
			}
			if !near(share, 1, 1e-12) {
				t.Errorf("shares sum to %v", share)
			}
			if got.GridError != 0 {
				t.Errorf("grid error %v with equal, small groups", got.GridError)
			}
		})
	}
}

func TestMeanIdentity(t *testing.T) {
	comps := []string{"cpu", "lock", "net"}
	a := [][]float64{{1, 2, 3}, {4, 0, 1}, {2, 2, 2}}
	b := [][]float64{{1, 9, 3}, {5, 1, 1}} // different sizes: pairing plays no part
	got, err := Attribute(comps, a, b, cfgWith(StatMean))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"cpu": 3 - 7.0/3, "lock": 5 - 4.0/3, "net": 2 - 2}
	for c, w := range want {
		if g := byName(got)[c]; !near(g, w, 1e-12) {
			t.Errorf("φ_%s = %v, want mean delta %v", c, g, w)
		}
	}
	if got.Grid != 0 || got.GridError != 0 {
		t.Errorf("mean used a grid: %d, %v", got.Grid, got.GridError)
	}
	for _, c := range got.Contributions {
		if !near(c.Delta, c.MeanB-c.MeanA, 1e-12) {
			t.Errorf("%s: φ %v ≠ MeanB−MeanA %v", c.Component, c.Delta, c.MeanB-c.MeanA)
		}
	}
}

// With equal group sizes the grid holds every item, and the grid game of
// the mean statistic is additive too: its Shapley values are mean deltas.
func TestGridMeanIsAdditive(t *testing.T) {
	a := [][]float64{{1, 5}, {7, 2}, {3, 3}, {0, 9}}
	b := [][]float64{{2, 8}, {1, 1}, {6, 6}, {4, 0}}
	totA, meanA, _ := summarize("A", a, 2)
	totB, meanB, _ := summarize("B", b, 2)
	g := newGrid(a, b, totA, totB, 4)
	h := make([]float64, g.m)
	v := make([]float64, 4)
	for mask := range v {
		for i := range g.m {
			h[i] = g.base[i]
			for c := range 2 {
				if mask&(1<<c) != 0 {
					h[i] += g.diff[i*2+c]
				}
			}
		}
		v[mask] = mean(h)
	}
	phi := shapley(v, 2)
	for c := range 2 {
		if !near(phi[c], meanB[c]-meanA[c], 1e-12) {
			t.Errorf("φ_%d = %v, want %v", c, phi[c], meanB[c]-meanA[c])
		}
	}
}

func TestAttributeRejects(t *testing.T) {
	nine := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	row9 := make([]float64, 9)
	tests := []struct {
		name  string
		comps []string
		a, b  [][]float64
		cfg   Config
		want  error
		text  string
	}{
		{"k>8", nine, [][]float64{row9}, [][]float64{row9}, DefaultConfig(), ErrTooManyComponents, "9 components, at most 8"},
		{"k=0", nil, [][]float64{{}}, [][]float64{{}}, DefaultConfig(), ErrNoComponents, ""},
		{"dup", []string{"a", "a"}, [][]float64{{1, 2}}, [][]float64{{1, 2}}, DefaultConfig(), ErrBadComponent, `component 1 "a"`},
		{"empty name", []string{""}, [][]float64{{1}}, [][]float64{{1}}, DefaultConfig(), ErrBadComponent, ""},
		{"empty A", []string{"a"}, nil, [][]float64{{1}}, DefaultConfig(), ErrEmptyGroup, "group A"},
		{"empty B", []string{"a"}, [][]float64{{1}}, nil, DefaultConfig(), ErrEmptyGroup, "group B"},
		{"width", []string{"a", "b"}, [][]float64{{1, 2}}, [][]float64{{1, 2}, {3}}, DefaultConfig(), ErrRowWidth, "group B item 1 has 1 components, want 2"},
		{"nan", []string{"a"}, [][]float64{{math.NaN()}}, [][]float64{{1}}, DefaultConfig(), ErrNotFinite, ""},
		{"inf", []string{"a"}, [][]float64{{1}}, [][]float64{{math.Inf(1)}}, DefaultConfig(), ErrNotFinite, ""},
		{"bad stat", []string{"a"}, [][]float64{{1}}, [][]float64{{1}}, cfgWith("p101"), ErrBadStatistic, "attribution config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Attribute(tt.comps, tt.a, tt.b, tt.cfg)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
	// Eight components are fine.
	row8 := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := Attribute(nine[:8], [][]float64{row8}, [][]float64{row8}, DefaultConfig()); err != nil {
		t.Fatalf("k=8: %v", err)
	}
}

func TestStatisticLevel(t *testing.T) {
	for s, want := range map[Statistic]float64{"p50": 0.5, "p95": 0.95, "p99.9": 0.999, "max": 1, "p0": 0, "p100": 1} {
		p, m, err := s.level()
		if err != nil || m || !near(p, want, 1e-15) {
			t.Errorf("%s: %v %v %v, want %v", s, p, m, err, want)
		}
	}
	for _, s := range []Statistic{"", "p", "p-1", "p101", "median", "P95", "pNaN"} {
		if _, _, err := s.level(); !errors.Is(err, ErrBadStatistic) {
			t.Errorf("%q: err %v", s, err)
		}
	}
}

func TestGridSubsamplesLargerGroup(t *testing.T) {
	// |A| = 4, |B| = 8: m = 4, B's items at ranks ⌊(2i+1)·8/8⌋ = 1, 3, 5, 7.
	var a, b [][]float64
	for i := range 4 {
		a = append(a, []float64{float64(i), 0})
	}
	for i := range 8 {
		b = append(b, []float64{float64(10 * i), 1})
	}
	totA, _, _ := summarize("A", a, 2)
	totB, _, _ := summarize("B", b, 2)
	g := newGrid(a, b, totA, totB, 4)
	for i := range 4 {
		wantDiff := float64(10*(2*i+1)) - float64(i)
		if g.base[i] != float64(i) || g.diff[i*2] != wantDiff || g.diff[i*2+1] != 1 {
			t.Errorf("pair %d: base %v diff %v", i, g.base[i], g.diff[i*2:i*2+2])
		}
	}
	got, err := Attribute([]string{"x", "y"}, a, b, cfgWith(StatMax))
	if err != nil {
		t.Fatal(err)
	}
	// full B max = 71, grid max = 71; A max 3 both: no grid error.
	if got.Grid != 4 || got.GridError != 0 || got.Delta != 68 {
		t.Errorf("grid %d error %v delta %v", got.Grid, got.GridError, got.Delta)
	}
	got, err = Attribute([]string{"x", "y"}, a, b, cfgWith(StatP50))
	if err != nil {
		t.Fatal(err)
	}
	// full: A p50 1.5, B p50 36; grid B totals {11,31,51,71} p50 41 → error 5.
	if got.Delta != 34.5 || got.GridError != 5 {
		t.Errorf("p50 delta %v grid error %v, want 34.5, 5", got.Delta, got.GridError)
	}
}

func TestLabelSlow(t *testing.T) {
	d := []float64{5, 1, 9, 3, 7, 2, 8, 4, 6, 10}
	slow, th, err := LabelSlow(d, 0.8) // h = 7.2: 8 + 0.2·1
	if err != nil {
		t.Fatal(err)
	}
	if !near(th, 8.2, 1e-12) {
		t.Errorf("threshold %v, want 8.2", th)
	}
	want := []bool{false, false, true, false, false, false, false, false, false, true}
	if !reflect.DeepEqual(slow, want) {
		t.Errorf("slow %v", slow)
	}
	if _, _, err := LabelSlow(nil, 0.9); !errors.Is(err, ErrNoItems) {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := LabelSlow(d, 1.5); err == nil {
		t.Error("p 1.5 accepted")
	}
	if _, _, err := LabelSlow([]float64{math.NaN()}, 0.5); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN: %v", err)
	}
}
