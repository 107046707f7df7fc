package attribution

import (
	"math"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"statistic", func(c *Config) { c.Statistic = "p95.x" }, `statistic "p95.x"`},
		{"empty statistic", func(c *Config) { c.Statistic = "" }, `statistic ""`},
		{"grid 0", func(c *Config) { c.MaxGrid = 0 }, "max grid 0: must be in [1, 100000]"},
		{"grid big", func(c *Config) { c.MaxGrid = MaxGridLimit + 1 }, "max grid 100001"},
		{"rel change", func(c *Config) { c.MinRelChange = -0.1 }, "min relative change -0.1"},
		{"rel change NaN", func(c *Config) { c.MinRelChange = math.NaN() }, "min relative change NaN"},
		{"alpha 0", func(c *Config) { c.Alpha = 0 }, "alpha 0: must be in (0, 1)"},
		{"alpha 1", func(c *Config) { c.Alpha = 1 }, "alpha 1"},
		{"value items", func(c *Config) { c.MinValueItems = 0 }, "min value items 0"},
		{"expected", func(c *Config) { c.MinExpected = -1 }, "min expected count -1"},
		{"exact n", func(c *Config) { c.ExactMaxN = -1 }, "exact max n -1"},
		{"lift", func(c *Config) { c.MinLift = 0.9 }, "min lift 0.9: must be finite and at least 1"},
		{"lift inf", func(c *Config) { c.MinLift = math.Inf(1) }, "min lift +Inf"},
		{"exemplars 0", func(c *Config) { c.Exemplars = 0 }, "exemplars 0: must be in [1, 100]"},
		{"exemplars big", func(c *Config) { c.Exemplars = 101 }, "exemplars 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}
