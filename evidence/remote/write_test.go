package remote

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// Findings and reports written through the API land in the served store
// (a real DuckDB file); a write without the token, with a bad report id or
// a body over the bound is refused with nothing stored; a store that does
// not take writes says so.
func TestClientWritesThroughServe(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(Handler(st, "s3cret-token", nil))
	defer srv.Close()
	c := NewClient(State{HTTPURL: srv.URL, Token: "s3cret-token"})

	refs := []evidence.Ref{{ID: "span:00000000000000000000000000000001/0000000000000001", Line: evidence.LineTrace}}
	f := evidence.Finding{ID: evidence.NewFindingID("change_explained", "db SELECT", refs), Kind: "change_explained",
		Subject: "db SELECT", Service: "db", Summary: "db explains it", Score: 0.9, Confidence: 1, Refs: refs}
	if err := c.WriteFindings(ctx, []evidence.Finding{f}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Findings(ctx, evidence.FindingFilter{}); err != nil || len(got) != 1 || got[0].ID != f.ID || got[0].Service != "db" {
		t.Fatalf("stored findings %+v, %v", got, err)
	}
	rep := evidence.StoredReport{ID: "report:0123456789ab", CreatedNS: 1, Status: "accepted", Title: "t", Body: []byte(`{"a":1}`)}
	if err := c.WriteReport(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Report(ctx, rep.ID); err != nil || !bytes.Equal(got.Body, rep.Body) {
		t.Fatalf("stored report %+v, %v", got, err)
	}

	for _, tc := range []struct {
		name, path, token, body string
		code                    int
	}{
		{"no token", "write-findings", "", `[]`, http.StatusUnauthorized},
		{"bad report id", "write-report", "s3cret-token", `{"ID":"finding:x","Body":"e30="}`, http.StatusBadRequest},
		{"empty report", "write-report", "s3cret-token", `{"ID":"report:x"}`, http.StatusBadRequest},
		{"unknown field", "write-findings", "s3cret-token", `[{"Bogus":1}]`, http.StatusBadRequest},
		{"too large", "write-findings", "s3cret-token", `[` + strings.Repeat(" ", maxWriteBody) + `]`, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+APIPrefix+tc.path, strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
	}
	if got, _ := st.Findings(ctx, evidence.FindingFilter{}); len(got) != 1 {
		t.Errorf("refused writes stored something: %d findings", len(got))
	}
	if rs, _ := st.Reports(ctx, evidence.ReportFilter{}); len(rs) != 1 {
		t.Errorf("refused writes stored something: %d reports", len(rs))
	}

	ro := httptest.NewServer(Handler(fakeReader{}, "tok", nil))
	defer ro.Close()
	if err := NewClient(State{HTTPURL: ro.URL, Token: "tok"}).WriteFindings(ctx, nil); !errors.Is(err, ErrNotSupported) {
		t.Errorf("write to a read-only store: %v, want ErrNotSupported", err)
	}
}
