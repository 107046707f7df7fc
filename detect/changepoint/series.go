package changepoint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is a time series read by [ReadSeries].
type Series struct {
	// Name is the TCPD dataset name; empty for plain text.
	Name string
	// Dims holds one slice per dimension, all of the same length. Missing
	// observations (JSON null) are NaN.
	Dims [][]float64
}

// Len is the number of observations.
func (s Series) Len() int {
	if len(s.Dims) == 0 {
		return 0
	}
	return len(s.Dims[0])
}

// maxSeriesBytes bounds what ReadSeries reads.
const maxSeriesBytes = 1 << 30

// ErrEmptySeries is returned for input without any observation.
var ErrEmptySeries = errors.New("series is empty")

// ReadSeries reads a series in the TCPD JSON format (an object whose
// "series" array holds one {"label", "raw"} object per dimension, nulls
// for missing values) or as plain text (one number per line; blank lines
// and lines starting with # are skipped; "NA" and "nan" are missing
// values). Input starting with '{' is JSON. Errors name the offending line
// or dimension.
func ReadSeries(r io.Reader) (Series, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSeriesBytes+1))
	if err != nil {
		return Series{}, fmt.Errorf("reading series: %w", err)
	}
	if len(data) > maxSeriesBytes {
		return Series{}, fmt.Errorf("series is larger than %d bytes", maxSeriesBytes)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseTCPD(trimmed)
	}
	return parseText(data)
}

// tcpdFile is the part of the TCPD JSON schema used here.
type tcpdFile struct {
	Name   string `json:"name"`
	NObs   *int   `json:"n_obs"`
	NDim   *int   `json:"n_dim"`
	Series []struct {
		Label string     `json:"label"`
		Raw   []*float64 `json:"raw"`
	} `json:"series"`
}

func parseTCPD(data []byte) (Series, error) {
	var f tcpdFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Series{}, fmt.Errorf("decoding TCPD JSON series: %w", err)
	}
	if len(f.Series) == 0 {
		return Series{}, fmt.Errorf("TCPD JSON has no \"series\": %w", ErrEmptySeries)
	}
	if f.NDim != nil && *f.NDim != len(f.Series) {
		return Series{}, fmt.Errorf("TCPD JSON: n_dim is %d but %d series are given", *f.NDim, len(f.Series))
	}
	out := Series{Name: f.Name, Dims: make([][]float64, len(f.Series))}
	for d, s := range f.Series {
		if len(s.Raw) != len(f.Series[0].Raw) {
			return Series{}, fmt.Errorf("TCPD JSON: series %d (%q) has %d values, series 0 has %d", d, s.Label, len(s.Raw), len(f.Series[0].Raw))
		}
		v := make([]float64, len(s.Raw))
		for i, p := range s.Raw {
			if p == nil {
				v[i] = math.NaN()
			} else {
				v[i] = *p
			}
		}
		out.Dims[d] = v
	}
	if f.NObs != nil && *f.NObs != out.Len() {
		return Series{}, fmt.Errorf("TCPD JSON: n_obs is %d but the series has %d values", *f.NObs, out.Len())
	}
	if out.Len() == 0 {
		return Series{}, ErrEmptySeries
	}
	return out, nil
}

func parseText(data []byte) (Series, error) {
	var v []float64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		f := strings.TrimSpace(sc.Text())
		if line == 1 {
			f = strings.TrimPrefix(f, "\ufeff")
		}
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		switch strings.ToLower(f) {
		case "na", "nan":
			v = append(v, math.NaN())
			continue
		}
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(x) {
			return Series{}, fmt.Errorf("line %d: %q is not a number", line, truncate(f, 40))
		}
		v = append(v, x)
	}
	if err := sc.Err(); err != nil {
		return Series{}, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(v) == 0 {
		return Series{}, ErrEmptySeries
	}
	return Series{Dims: [][]float64{v}}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
