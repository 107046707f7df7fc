package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type changepointRef struct {
	Dataset string `json:"dataset"`
	PELT    []int  `json:"pelt"`
	BinSeg  []int  `json:"binseg"`
	BOCPD   []int  `json:"bocpd"`
}

func loadChangepointRefs(t *testing.T, dir string) map[string]changepointRef {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "reference_cps.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refs := map[string]changepointRef{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r changepointRef
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		refs[r.Dataset] = r
	}
	return refs
}

func cleanRef(cps []int, n int) []int {
	var out []int
	for _, c := range cps {
		if c >= 1 && c < n-1 {
			out = append(out, c)
		}
	}
	return out
}

func TestChangepointsMatchesReference(t *testing.T) {
	dir := sharedTestdata(t, "changepoint")
	refs := loadChangepointRefs(t, dir)
	for _, tc := range []struct {
		dataset string
		n       int
	}{{"gdp_argentina", 59}, {"well_log", 675}} {
		ref := refs[tc.dataset]
		file := filepath.Join(dir, "series", tc.dataset+".json")
		for method, want := range map[string][]int{"pelt": ref.PELT, "binseg": ref.BinSeg, "bocpd": ref.BOCPD} {
			t.Run(tc.dataset+"/"+method, func(t *testing.T) {
				for _, raw := range []bool{false, true} {
					args := []string{"changepoints", "--method", method}
					exp := cleanRef(want, tc.n)
					if raw {
						args = append(args, "--raw")
						exp = want
					}
					out, errOut, err := runCLI(t, append(args, file)...)
					if err != nil {
						t.Fatalf("raw=%v: %v (stderr %q)", raw, err, errOut)
					}
					var got []int
					if err := json.Unmarshal([]byte(out), &got); err != nil {
						t.Fatalf("raw=%v: output %q: %v", raw, out, err)
					}
					if !slices.Equal(got, exp) && !(len(got) == 0 && len(exp) == 0) {
						t.Errorf("raw=%v: got %v, want %v", raw, got, exp)
					}
				}
			})
		}
	}
}

func TestChangepointsPlainTextAndStdin(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 60; i++ {
		v := []string{"1.5", "1.6"}[i%2]
		if i >= 30 {
			v = []string{"9", "9.1"}[i%2]
		}
		b.WriteString(v + "\n")
	}
	file := filepath.Join(t.TempDir(), "series.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "changepoints", "--method", "pelt", file)
	if err != nil || strings.TrimSpace(out) != "[29]" { // last index before the step
		t.Fatalf("pelt on a step: out=%q err=%v", out, err)
	}
	stdin := strings.NewReader(b.String())
	var so, se strings.Builder
	err = run(context.Background(), []string{"changepoints", "--method", "bocpd", "-"}, stdin, &so, &se)
	if err != nil || strings.TrimSpace(so.String()) != "[30]" { // first index after the step
		t.Fatalf("bocpd from stdin: out=%q err=%v", so.String(), err)
	}
}

func TestChangepointsBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.txt", "1\n2\n3\n4\n5\n6\n")
	for _, tc := range []struct {
		name     string
		args     []string
		wantErr  string
		exitCode int
	}{
		{"garbage", []string{write("bad.txt", "1\n2\nabc\n4\n")}, `line 3: "abc" is not a number`, 1},
		{"empty", []string{write("empty.txt", "\n# nothing\n")}, "series is empty", 1},
		{"missing", []string{write("na.txt", "1\nNA\n3\n4\n")}, "missing value", 1},
		{"constant", []string{write("const.txt", "2\n2\n2\n2\n")}, "constant", 1},
		{"bad json", []string{write("bad.json", `{"series": [{"raw": [1, "x"]}]}`)}, "decoding TCPD JSON", 1},
		{"no file", []string{filepath.Join(dir, "nope.txt")}, "opening series", 1},
		{"unknown method", []string{"--method", "magic", good}, `unknown --method "magic"`, 2},
		{"unknown penalty", []string{"--penalty", "aic", good}, `--penalty "aic"`, 2},
		{"bad max changes", []string{"--method", "binseg", "--max-changes", "0", good}, "max changes 0", 2},
		{"no args", nil, "want exactly one FILE", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"changepoints"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			var sink strings.Builder
			if code := exitCode(err, &sink); code != tc.exitCode {
				t.Fatalf("exit code %d, want %d", code, tc.exitCode)
			}
		})
	}
}
