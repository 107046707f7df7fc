package patterns

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/ingest"
	"github.com/debugai/debugai/privacy"
)

const sharedTestdata = "../../../shared/testdata"

// loadShared imports a shared OTLP/JSON recording the way "debugai
// import" does: ingest.ReadOTLPFile, then the privacy converter with the
// default policy. It skips the test when the shared data is absent.
func loadShared(t testing.TB, rel string) *evidence.Batch {
	t.Helper()
	path := filepath.Join(sharedTestdata, rel)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared test data %s is absent (it lives beside the repository as ../shared/testdata; CI always has it)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := privacy.DefaultConfig()
	ring, err := privacy.NewKeyRing([]byte("patterns-test-secret-0123456789"), cfg.Keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := privacy.NewRedactor(cfg, ring)
	if err != nil {
		t.Fatal(err)
	}
	conv := ingest.NewPrivacyConverter(r)
	out := &evidence.Batch{}
	err = ingest.ReadOTLPFile(f, path, ingest.FileAuto, func(rec ingest.FileRecord) error {
		var b *evidence.Batch
		if rec.IsLogs {
			b, _, _ = conv.ConvertLogs(rec.Logs)
		} else {
			b, _, _ = conv.ConvertTraces(rec.Traces)
		}
		out.Merge(b)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

func byKind(fs []evidence.Finding, kind string) []evidence.Finding {
	var out []evidence.Finding
	for _, f := range fs {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// TestNezhaNetworkDelayBlamesCallee: Nezha's network_delay fault on
// ts-verification-code-service (2023-01-30 12:29:29, fault list entry) is
// invisible in the callee's own spans; the detector must blame the network
// path to the callee, with the gap increase against the fault-free
// baseline, and report nothing else.
func TestNezhaNetworkDelayBlamesCallee(t *testing.T) {
	fault := loadShared(t, "nezha/tt_fault_verification-code_network_delay_12_29-12_31.otlp.jsonl.gz")
	base := loadShared(t, "nezha/tt_baseline_2023-01-30_11_39.otlp.jsonl.gz")
	if len(fault.Spans) != 12948 || len(base.Spans) != 4595 {
		t.Fatalf("spans %d and %d, want 12948 and 4595 (testdata README)", len(fault.Spans), len(base.Spans))
	}
	list, err := os.ReadFile(filepath.Join(sharedTestdata, "nezha/2023-01-30-fault_list.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), `"inject_pod": "ts-verification-code-service-7b6dc75c45-r66rb"`) {
		t.Fatal("fault list does not name the verification-code pod")
	}
	cfg := DefaultConfig()
	cfg.Kinds = []string{KindNetworkGap}
	finds, _, err := Analyze(Input{Spans: fault.Spans, Baseline: base.Spans}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range finds {
		t.Logf("%s %s score %.3f conf %.3f: %s", f.Kind, f.Subject, f.Score, f.Confidence, f.Summary)
	}
	if len(finds) != 1 {
		t.Fatalf("%d network_gap findings, want exactly 1 (the verification-code edge)", len(finds))
	}
	f := finds[0]
	if !strings.HasPrefix(f.Subject, "ts-verification-code-service/") {
		t.Errorf("subject %q: want the callee ts-verification-code-service", f.Subject)
	}
	if !strings.Contains(f.Summary, "ts-auth-service") || !strings.Contains(f.Summary, "network path to ts-verification-code-service") {
		t.Errorf("summary does not blame the auth -> verification-code network path: %s", f.Summary)
	}
	a := f.Attrs
	if a["increase_ns"] < 900e6 || a["baseline_gap_p50_ns"] > 20e6 {
		t.Errorf("gap p50 %v ns, baseline %v ns: want an increase of about 1 s over a few ms", a["gap_p50_ns"], a["baseline_gap_p50_ns"])
	}
	if a["callee_p50_ns"] > 20e6 || a["share_p50"] < 0.9 {
		t.Errorf("callee p50 %v ns, gap share %v: the callee's own span must stay fast and the gap dominate", a["callee_p50_ns"], a["share_p50"])
	}
	if a["p_adjusted"] > cfg.Alpha || a["p_value"] > 0.001 {
		t.Errorf("p %v, adjusted %v: want a rejection at alpha %v", a["p_value"], a["p_adjusted"], cfg.Alpha)
	}

	// Swapping the roles (the fault window as baseline) must find nothing:
	// gaps shrank.
	rev, _, err := Analyze(Input{Spans: base.Spans, Baseline: fault.Spans}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev) != 0 {
		t.Errorf("baseline against the fault window: %d findings, want none: %s", len(rev), rev[0].Summary)
	}
}

// TestHotRODDriverNPlusOne: HotROD's driver makes 10 sequential Redis
// GetDriver calls per FindNearest (README ground truth 2), in the incident
// and the fixed run alike; the frontend's route calls go through a pool of
// 3 and must not be mistaken for N+1.
func TestHotRODDriverNPlusOne(t *testing.T) {
	for _, run := range []string{"incident_mutex_default", "fixed_M_D100ms_W100"} {
		t.Run(run, func(t *testing.T) {
			b := loadShared(t, "hotrod/"+run+"/traces.otlp.jsonl.gz")
			cfg := DefaultConfig()
			cfg.Kinds = []string{KindNPlusOne}
			finds, _, err := Analyze(Input{Spans: b.Spans}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range finds {
				t.Logf("%s score %.3f conf %.3f: %s", f.Subject, f.Score, f.Confidence, f.Summary)
			}
			want := "driver/driver.DriverService/FindNearest -> redis-manual/GetDriver"
			i := slices.IndexFunc(finds, func(f evidence.Finding) bool { return f.Subject == want })
			if i < 0 {
				t.Fatalf("no n_plus_one finding %q", want)
			}
			if f := finds[i]; f.Attrs["parents"] < 50 || f.Attrs["mean_calls"] < 10 {
				t.Errorf("parents %v, mean calls %v: want most of 62 FindNearest spans with >= 10 calls", f.Attrs["parents"], f.Attrs["mean_calls"])
			}
			for _, f := range finds {
				if strings.Contains(f.Subject, "route") || strings.HasPrefix(f.Subject, "frontend/GET /dispatch -> frontend/HTTP GET") {
					t.Errorf("pooled route calls reported as N+1: %s", f.Summary)
				}
			}
		})
	}
}

// TestHotRODRoutePool: the frontend's route calls share a worker pool of 3
// in the incident run (plateau 3, queued calls handed slots); the fixed run
// has a pool of 100 and must show no saturation.
func TestHotRODRoutePool(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Kinds = []string{KindPoolSaturation}
	inc := loadShared(t, "hotrod/incident_mutex_default/traces.otlp.jsonl.gz")
	finds, _, err := Analyze(Input{Spans: inc.Spans}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range finds {
		t.Logf("incident %s score %.3f conf %.3f: %s", f.Subject, f.Score, f.Confidence, f.Summary)
	}
	const want = "frontend/HTTP GET -> route/GET /route"
	i := slices.IndexFunc(finds, func(f evidence.Finding) bool { return f.Subject == want })
	if i < 0 {
		t.Fatalf("no pool_saturation finding %q", want)
	}
	if p := finds[i].Attrs["plateau"]; p != 3 {
		t.Errorf("plateau %v, want 3 (HotROD's route worker pool)", p)
	}
	if len(finds) != 1 {
		t.Errorf("%d pool findings, want only the route pool", len(finds))
	}
	fixed := loadShared(t, "hotrod/fixed_M_D100ms_W100/traces.otlp.jsonl.gz")
	finds, _, err = Analyze(Input{Spans: fixed.Spans}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range finds {
		t.Errorf("fixed run (pool of 100): unexpected %s: %s", f.Subject, f.Summary)
	}
}

// TestRealDataAllDetectors runs every detector over the shared trace-only
// recordings and pins the complete set of findings: anything else is a
// false positive. The TrainTicket travel finding is in the baseline too:
// every queryInfo makes ~6 back-to-back left_tickets calls to the seat
// service, one per trip it returns, a genuine N+1 shape unrelated to the
// injected fault.
func TestRealDataAllDetectors(t *testing.T) {
	const travelSeats = "n_plus_one ts-travel-service/TravelController.queryInfo -> ts-travel-service/HTTP POST -> ts-seat-service//api/v1/seatservice/seats/left_tickets"
	const driver = "n_plus_one driver/driver.DriverService/FindNearest -> redis-manual/GetDriver"
	cases := []struct {
		rel  string
		want []string
	}{
		{"hotrod/incident_mutex_default/traces.otlp.jsonl.gz", []string{driver, "pool_saturation frontend/HTTP GET -> route/GET /route"}},
		{"hotrod/fixed_M_D100ms_W100/traces.otlp.jsonl.gz", []string{driver}},
		{"nezha/tt_fault_verification-code_network_delay_12_29-12_31.otlp.jsonl.gz", []string{
			"network_gap ts-verification-code-service//api/v1/verifycode/verify/{verifyCode}", travelSeats}},
		{"nezha/tt_baseline_2023-01-30_11_39.otlp.jsonl.gz", []string{travelSeats}},
	}
	for _, c := range cases {
		t.Run(strings.Split(c.rel, "/")[1], func(t *testing.T) {
			b := loadShared(t, c.rel)
			finds, st, err := Analyze(Input{Spans: b.Spans}, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if st.SlowSpans == 0 || st.FastSpans == 0 {
				t.Errorf("stats %+v: no spans labelled", st)
			}
			var got []string
			for _, f := range finds {
				got = append(got, f.Kind+" "+f.Subject)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}
