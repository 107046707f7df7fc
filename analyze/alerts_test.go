package analyze

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeAlerts(t *testing.T) {
	cfg := DefaultAlertConfig()
	cfg.MaxAlerts = 2
	at := "2026-12-06T03:00:00.5Z"
	for _, tc := range []struct {
		name, body string
		firing     int
		ignored    int
		service    string
		wantErr    string
	}{
		{"firing with service", `{"version":"4","alerts":[{"status":"firing","labels":{"service":"db","job":"x"},"startsAt":"` + at + `","fingerprint":"ab"}]}`, 1, 0, "db", ""},
		{"job label", `{"alerts":[{"status":"firing","labels":{"job":"api"},"startsAt":"` + at + `"}]}`, 1, 0, "api", ""},
		{"no service label", `{"alerts":[{"status":"firing","labels":{"alertname":"X"},"startsAt":"` + at + `"}]}`, 1, 0, "", ""},
		{"resolved only", `{"alerts":[{"status":"resolved","startsAt":"` + at + `"}]}`, 0, 1, "", ""},
		{"unknown fields kept quiet", `{"receiver":"r","extra":{"a":[1]},"alerts":[{"status":"firing","startsAt":"` + at + `","generatorURL":"u"}]}`, 1, 0, "", ""},
		{"not JSON", `secret`, 0, 0, "", "not a JSON object"},
		{"no alerts", `{"status":"firing"}`, 0, 0, "", "no alerts array"},
		{"trailing data", `{"alerts":[]} {"alerts":[]}`, 0, 0, "", "data after"},
		{"too many", `{"alerts":[{"status":"resolved"},{"status":"resolved"},{"status":"resolved"}]}`, 0, 0, "", "at most 2"},
		{"bad status", `{"alerts":[{"status":"secret","startsAt":"` + at + `"}]}`, 0, 0, "", "alert 0: status"},
		{"bad time", `{"alerts":[{"status":"firing","startsAt":"secret"}]}`, 0, 0, "", "alert 0: startsAt"},
		{"zero time", `{"alerts":[{"status":"firing","startsAt":"0001-01-01T00:00:00Z"}]}`, 0, 0, "", "alert 0: startsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, ignored, err := DecodeAlerts([]byte(tc.body), cfg)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrAlertBody) || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("err %v, want ErrAlertBody with %q and no value", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(reqs) != tc.firing || ignored != tc.ignored {
				t.Fatalf("%d requests, %d ignored, %v; want %d, %d", len(reqs), ignored, err, tc.firing, tc.ignored)
			}
			if tc.firing > 0 {
				want, _ := time.Parse(time.RFC3339Nano, at)
				if r := reqs[0]; r.ServiceLabel != tc.service || r.AtNS != want.UnixNano() || !strings.HasPrefix(r.Key, "alert:") {
					t.Errorf("request %+v, want service %q at %v", r, tc.service, want)
				}
			}
		})
	}
}

// The key tells occurrences apart: the same fingerprint at another start
// is another occurrence; without a fingerprint the labels decide, in any
// order.
func TestAlertKey(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	a := alertKey("fp", nil, t1)
	if a != alertKey("fp", map[string]string{"x": "y"}, t1) || a == alertKey("fp", nil, t2) || a == alertKey("other", nil, t1) {
		t.Error("fingerprint keys do not identify an occurrence")
	}
	l1 := map[string]string{"a": "1", "b": "2"}
	l2 := map[string]string{"b": "2", "a": "1"}
	if alertKey("", l1, t1) != alertKey("", l2, t1) || alertKey("", l1, t1) == alertKey("", map[string]string{"a": "12"}, t1) {
		t.Error("label keys do not identify an alert")
	}
}

// Repeats are dropped; a full queue refuses (and a later repeat is then
// taken); the memory of taken occurrences is bounded.
func TestAlertQueue(t *testing.T) {
	cfg := DefaultAlertConfig()
	cfg.Queue, cfg.Remember = 2, 3
	q := NewAlertQueue(cfg)
	take := func(key string) (bool, bool) { return q.Enqueue(AlertRequest{Key: key}) }
	if dup, ok := take("a"); dup || !ok {
		t.Fatal("first a not queued")
	}
	if dup, ok := take("a"); !dup || !ok {
		t.Fatal("repeat of a not a duplicate")
	}
	take("b")
	if dup, ok := take("c"); dup || ok {
		t.Fatal("c queued beyond the queue's capacity")
	}
	<-q.C()
	if dup, ok := take("c"); dup || !ok {
		t.Fatal("c not taken once there was room")
	}
	<-q.C()
	<-q.C()
	take("d") // a is forgotten: Remember is 3
	if dup, ok := take("a"); dup || !ok {
		t.Errorf("a still remembered beyond Remember: dup %v ok %v", dup, ok)
	}
}

// FuzzDecodeAlerts: any body decodes or is refused with ErrAlertBody,
// never panics, and a refusal quotes nothing of the body.
func FuzzDecodeAlerts(f *testing.F) {
	f.Add([]byte(`{"alerts":[{"status":"firing","labels":{"service":"db"},"startsAt":"2026-12-06T03:00:00Z","fingerprint":"ab"}]}`))
	f.Add([]byte(`{"alerts":[{"status":"resolved"}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, ignored, err := DecodeAlerts(body, DefaultAlertConfig())
		if err != nil {
			if !errors.Is(err, ErrAlertBody) || reqs != nil || ignored != 0 {
				t.Fatalf("error %v with %d requests", err, len(reqs))
			}
			return
		}
		for _, r := range reqs {
			if !strings.HasPrefix(r.Key, "alert:") || r.AtNS == 0 {
				t.Fatalf("request %+v", r)
			}
		}
	})
}
