package patterns

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"kind", func(c *Config) { c.Kinds = []string{"lock_inversion"} }, `kind "lock_inversion": unknown`},
		{"quantile", func(c *Config) { c.SlowQuantile = 1 }, "slow quantile 1: must be in (0, 1)"},
		{"alpha nan", func(c *Config) { c.Alpha = math.NaN() }, "alpha NaN"},
		{"refs", func(c *Config) { c.MaxRefs = 0 }, "max refs 0: must be in [1, 1000]"},
		{"endpoint spans", func(c *Config) { c.MinEndpointSpans = 1 }, "min endpoint spans 1"},
		{"dominant", func(c *Config) { c.Convoy.DominantShare = 0 }, "convoy dominant share 0: must be in (0, 1]"},
		{"ratio", func(c *Config) { c.Retransmit.MinRateRatio = 0.5 }, "retransmit rate ratio 0.5: must be in [1, inf]"},
		{"window", func(c *Config) { c.Faults.WindowNS = 0 }, "fault window ns 0"},
		{"pool", func(c *Config) { c.Pool.MinPoolSize = 1 }, "pool min size 1"},
		{"join", func(c *Config) { c.Join.MaxOverlayRefs = 0 }, "max overlay refs 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrConfig with %q", err, tc.want)
			}
			if _, _, err := Analyze(Input{}, c); !errors.Is(err, ErrConfig) {
				t.Errorf("Analyze with bad config: %v, want ErrConfig", err)
			}
		})
	}
}

func TestAnalyzeEmptyAndKinds(t *testing.T) {
	fs, st, err := Analyze(Input{}, DefaultConfig())
	if err != nil || len(fs) != 0 || st.Spans != 0 {
		t.Fatalf("empty input: %v findings, %+v, %v", fs, st, err)
	}
	if len(st.Findings) != len(AllKinds) {
		t.Errorf("stats count %d kinds, want all %d", len(st.Findings), len(AllKinds))
	}
	c := DefaultConfig()
	c.Kinds = []string{KindNPlusOne}
	_, st, err = Analyze(Input{}, c)
	if err != nil || len(st.Findings) != 1 {
		t.Errorf("one kind selected: ran %v (%v)", st.Findings, err)
	}
}

func TestQuantileInt(t *testing.T) {
	s := []int64{10, 20, 30, 40}
	for _, tc := range []struct {
		p    float64
		want int64
	}{{0, 10}, {0.5, 25}, {0.9, 37}, {1, 40}} {
		if got := quantileInt(s, tc.p); got != tc.want {
			t.Errorf("quantile(%v) = %d, want %d", tc.p, got, tc.want)
		}
	}
	if medianWithZeros([]int64{5, 7}, 3) != 0 || medianWithZeros([]int64{5, 7}, 1) != 5 {
		t.Error("medianWithZeros")
	}
}

func TestIntervals(t *testing.T) {
	u := union([]interval{{5, 10}, {0, 3}, {2, 4}, {10, 12}})
	if len(u) != 2 || u[0] != (interval{0, 4}) || u[1] != (interval{5, 12}) || length(u) != 11 {
		t.Fatalf("union = %v", u)
	}
	if !covers(u, 0) || !covers(u, 4) || covers(u, 13) || !covers(u, 12) {
		t.Error("covers")
	}
	var out []interval
	clip(u, interval{3, 6}, &out)
	if len(out) != 2 || out[0] != (interval{3, 4}) || out[1] != (interval{5, 6}) {
		t.Errorf("clip = %v", out)
	}
}
