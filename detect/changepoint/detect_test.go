package changepoint

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"pelt default", DefaultPELTConfig(), ""},
		{"binseg default", DefaultBinSegConfig(), ""},
		{"penalty", Config{Penalty: "aic", MinSegLen: 1, MaxChanges: 5}, `penalty "aic"`},
		{"minseglen", Config{Penalty: PenaltyMBIC, MinSegLen: 0, MaxChanges: 5}, "min segment length 0"},
		{"maxchanges", Config{Penalty: PenaltyMBIC, MinSegLen: 1, MaxChanges: 0}, "max changes 0"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc.cfg.Validate(), tc.wantErr) })
	}
	good := DefaultBOCPDConfig()
	for _, tc := range []struct {
		name    string
		mod     func(*BOCPDConfig)
		wantErr string
	}{
		{"default", func(*BOCPDConfig) {}, ""},
		{"lambda", func(c *BOCPDConfig) { c.Lambda = 0 }, "lambda 0"},
		{"prior", func(c *BOCPDConfig) { c.Prior.K = -1 }, "k, a and b must be positive"},
		{"prior mean", func(c *BOCPDConfig) { c.Prior.M = math.NaN() }, "prior mean"},
		{"trunc", func(c *BOCPDConfig) { c.TruncRLim = 1 }, "truncation limit 1"},
		{"rlength", func(c *BOCPDConfig) { c.MinRLength = c.MaxRLength }, "run-length bounds"},
		{"sep", func(c *BOCPDConfig) { c.MinSep = 0 }, "separation bounds"},
	} {
		t.Run("bocpd "+tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			checkErr(t, c.Validate(), tc.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestBadSeries(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float64
		want error
	}{
		{"nan", []float64{1, math.NaN(), 3, 4}, ErrMissingValue},
		{"inf", []float64{1, math.Inf(1), 3, 4}, ErrNotFinite},
		{"constant", []float64{2, 2, 2, 2}, ErrConstant},
		{"short", []float64{1}, ErrTooShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err1 := PELT(tc.x, DefaultPELTConfig())
			_, err2 := BinSeg(tc.x, Config{Penalty: PenaltyMBIC, MinSegLen: 1, MaxChanges: 1, Standardize: true})
			for _, err := range []error{err1, err2} {
				if !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
			}
			if tc.want != ErrTooShort {
				if _, err := BOCPD(tc.x, DefaultBOCPDConfig()); !errors.Is(err, tc.want) {
					t.Errorf("BOCPD err = %v, want %v", err, tc.want)
				}
			}
		})
	}
	if _, err := BOCPD(nil, DefaultBOCPDConfig()); !errors.Is(err, ErrTooShort) {
		t.Errorf("BOCPD(nil) err = %v", err)
	}
	if _, err := BinSeg(make([]float64, 6), DefaultBinSegConfig()); !errors.Is(err, ErrTooShort) {
		t.Errorf("BinSeg with Q > n/2+1: err = %v", err)
	}
}

func TestStepDetected(t *testing.T) {
	x := make([]float64, 200)
	for i := range x {
		x[i] = float64(i%3) * 0.1
		if i >= 120 {
			x[i] += 5
		}
	}
	for name, run := range map[string]func() ([]int, error){
		"pelt":   func() ([]int, error) { return PELT(x, DefaultPELTConfig()) },
		"binseg": func() ([]int, error) { return BinSeg(x, DefaultBinSegConfig()) },
		"bocpd":  func() ([]int, error) { return BOCPD(x, DefaultBOCPDConfig()) },
	} {
		got, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := []int{119}
		if name == "bocpd" {
			want = []int{120}
		}
		if c := Clean(got, len(x)); !slices.Equal(c, want) {
			t.Errorf("%s: cleaned %v (raw %v), want %v", name, c, got, want)
		}
	}
}

func TestBOCPDMulti(t *testing.T) {
	a := make([]float64, 150)
	b := make([]float64, 150)
	for i := range a {
		a[i], b[i] = float64(i%4), float64(i%5)
		if i >= 80 {
			a[i] += 10
			b[i] -= 10
		}
	}
	got, err := BOCPDMulti([][]float64{a, b}, DefaultBOCPDConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, 80) {
		t.Errorf("got %v, want a run starting at 80", got)
	}
	if _, err := BOCPDMulti([][]float64{a, b[:10]}, DefaultBOCPDConfig()); err == nil {
		t.Error("ragged dimensions accepted")
	}
	// One dimension through BOCPDMulti is BOCPD.
	one, _ := BOCPDMulti([][]float64{a}, DefaultBOCPDConfig())
	uni, _ := BOCPD(a, DefaultBOCPDConfig())
	if !slices.Equal(one, uni) {
		t.Errorf("BOCPDMulti(1 dim) %v != BOCPD %v", one, uni)
	}
}

func TestClean(t *testing.T) {
	if got := Clean([]int{0, 5, 3, 5, 9, 10}, 10); !slices.Equal(got, []int{3, 5}) {
		t.Fatalf("got %v", got)
	}
}
