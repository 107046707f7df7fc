package changepoint

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReadSeries(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]float64
		wantErr  string
	}{
		{"text", "1\n 2.5 \n\n# comment\n-3e2\n", [][]float64{{1, 2.5, -300}}, ""},
		{"text NA", "1\nNA\nnan\n", [][]float64{{1, math.NaN(), math.NaN()}}, ""},
		{"text CRLF", "1\r\n2\r\n", [][]float64{{1, 2}}, ""},
		{"json", `{"name":"x","n_obs":3,"n_dim":1,"series":[{"label":"V1","raw":[1,null,3]}]}`,
			[][]float64{{1, math.NaN(), 3}}, ""},
		{"json 2 dims", `{"series":[{"raw":[1,2]},{"raw":[3,4]}]}`, [][]float64{{1, 2}, {3, 4}}, ""},
		{"garbage line", "1\n2\nzz\n", nil, `line 3: "zz" is not a number`},
		{"empty", "", nil, "series is empty"},
		{"only comments", "# a\n\n", nil, "series is empty"},
		{"json no series", `{"name":"x"}`, nil, "no \"series\""},
		{"json ragged", `{"series":[{"raw":[1,2]},{"raw":[3]}]}`, nil, "has 1 values"},
		{"json n_obs", `{"n_obs":5,"series":[{"raw":[1,2]}]}`, nil, "n_obs is 5"},
		{"json empty raw", `{"series":[{"raw":[]}]}`, nil, "series is empty"},
		{"json string", `{"series":[{"raw":["a"]}]}`, nil, "decoding TCPD JSON"},
		{"text inf", "1\n+Inf\n", [][]float64{{1, math.Inf(1)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSeries(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Dims) != len(tc.want) {
				t.Fatalf("dims %d, want %d", len(s.Dims), len(tc.want))
			}
			for d := range tc.want {
				for i, w := range tc.want[d] {
					g := s.Dims[d][i]
					if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
						t.Fatalf("dim %d[%d] = %v, want %v", d, i, g, w)
					}
				}
			}
		})
	}
}

// FuzzReadSeries: the parser never panics, and whatever it accepts every
// detector either handles or rejects with an error.
func FuzzReadSeries(f *testing.F) {
	for _, s := range []string{"1\n2\n3\n", `{"series":[{"raw":[1,null,2]}]}`, "x", "", "{", "1e400\n", "NA\n1\n2\n3\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSeries(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if s.Len() == 0 {
			t.Fatal("accepted an empty series")
		}
		if s.Len() > 2000 {
			return // keep each fuzz iteration fast
		}
		for _, x := range s.Dims {
			_, err1 := PELT(x, DefaultPELTConfig())
			if len(x) >= 2 && hasNaN(x) && !errors.Is(err1, ErrMissingValue) {
				t.Fatalf("NaN: err = %v, want ErrMissingValue", err1)
			}
			_, err2 := BinSeg(x, Config{Penalty: PenaltyMBIC, MinSegLen: 1, MaxChanges: 1, Standardize: true})
			if hasNaN(x) && (err1 == nil || err2 == nil) {
				t.Fatalf("NaN accepted: %v %v", err1, err2)
			}
		}
		_, _ = BOCPDMulti(s.Dims, DefaultBOCPDConfig())
	})
}

func hasNaN(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}
