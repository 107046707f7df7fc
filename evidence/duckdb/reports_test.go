package duckdb

import (
	"context"
	"errors"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func TestReportsRoundTripReplaceAndList(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, r := range []evidence.StoredReport{
		{ID: "report:a", CreatedNS: 100, Status: "accepted", Title: "lock", Body: []byte(`{"v":1}`)},
		{ID: "report:b", CreatedNS: 200, Status: "rejected", Title: "tcp", Body: []byte(`{"v":2}`)},
		{ID: "report:a", CreatedNS: 300, Status: "accepted", Title: "lock again", Body: []byte(`{"v":3}`)},
	} {
		if err := s.WriteReport(ctx, r); err != nil {
			t.Fatalf("WriteReport(%s): %v", r.ID, err)
		}
	}
	list, err := s.Reports(ctx, evidence.ReportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "report:a" || list[0].Title != "lock again" || list[0].Body != nil || list[1].ID != "report:b" {
		t.Fatalf("Reports = %+v", list)
	}
	if list, _ := s.Reports(ctx, evidence.ReportFilter{Status: "rejected"}); len(list) != 1 || list[0].ID != "report:b" {
		t.Fatalf("Reports(rejected) = %+v", list)
	}
	r, err := s.Report(ctx, "report:a")
	if err != nil || string(r.Body) != `{"v":3}` || r.CreatedNS != 300 {
		t.Fatalf("Report = %+v, %v", r, err)
	}
	if _, err := s.Report(ctx, "report:zz"); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("unknown report: %v", err)
	}
}

func TestWriteReportRejectsBadInput(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for name, r := range map[string]evidence.StoredReport{
		"empty id": {Title: "x", Body: []byte(`{}`)},
		"bad body": {ID: "report:x", Title: "x", Body: []byte(`{`)},
	} {
		if err := s.WriteReport(ctx, r); err == nil {
			t.Errorf("%s: WriteReport accepted %+v", name, r)
		}
	}
}
