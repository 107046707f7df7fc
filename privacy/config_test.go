package privacy

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Default != ActionDrop || cfg.Keys.Rotation != 720*time.Hour || cfg.Keys.Lookback != 7*24*time.Hour {
		t.Errorf("defaults = %+v", cfg.Keys)
	}
}

func TestLoadConfigGood(t *testing.T) {
	cfg, err := LoadConfig("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.File != "/var/lib/debugai/hmac.key" || cfg.Keys.Rotation != 168*time.Hour || cfg.Keys.Lookback != 24*time.Hour {
		t.Errorf("keys = %+v", cfg.Keys)
	}
	if n := len(DefaultConfig().Attributes) + 4; len(cfg.Attributes) != n {
		t.Fatalf("%d rules, want the file's 4 before the defaults (%d)", len(cfg.Attributes), n)
	}
	want := Rule{Match: "app.query", Action: ActionNormalize, Normalizer: NormalizeSQL}
	if cfg.Attributes[2] != want {
		t.Errorf("rule 2 = %+v, want %+v", cfg.Attributes[2], want)
	}
	// The file's drop of http.route wins over the default keep.
	r, err := NewRedactor(cfg, newTestRing(t, &clock{time.Unix(0, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	for key, act := range map[string]Action{"http.route": ActionDrop, "app.order.total": ActionKeep, "service.name": ActionKeep, "app.other": ActionDrop} {
		if got := r.ActionFor(key); got != act {
			t.Errorf("ActionFor(%s) = %s, want %s", key, got, act)
		}
	}
}

func TestLoadConfigEmptyKeepsDefaults(t *testing.T) {
	cfg, err := LoadConfig("testdata/empty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if cfg.Keys != def.Keys || cfg.Default != def.Default || len(cfg.Attributes) != len(def.Attributes) {
		t.Errorf("empty file changed defaults: %+v", cfg.Keys)
	}
}

func TestLoadConfigBad(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"bad_action.yaml", `attributes[0]: action "hide": unknown (want keep, tokenize, normalize or drop)`},
		{"bad_match.yaml", `attributes[0]: match "app.*.id": '*' is only allowed as a trailing ".*"`},
		{"empty_match.yaml", `attributes[0]: match: empty`},
		{"bad_rotation.yaml", `keys.rotation: 10m0s is shorter than 1h0m0s`},
		{"bad_lookback.yaml", `keys.lookback: -1h0m0s is negative`},
		{"bad_lookback_epochs.yaml", `keys.lookback: 48h0m0s spans more than 32 epochs of 1h0m0s`},
		{"bad_default.yaml", `default: unknown action "redact"`},
		{"bad_normalizer.yaml", `attributes[0]: normalizer "sql": only valid with action normalize`},
		{"unknown_field.yaml", `field rotate not found`},
		{"missing.yaml", `no such file or directory`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadConfig("testdata/" + tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "loading privacy config") {
				t.Errorf("err = %q, want the loading privacy config prefix", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	base := DefaultConfig()
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Match: "*", Action: ActionKeep}, "use default"},
		{Rule{Match: " a", Action: ActionKeep}, "leading or trailing space"},
		{Rule{Match: "a*", Action: ActionKeep}, "trailing"},
		{Rule{Match: "a", Action: ActionRedact}, "redact is recorded"},
		{Rule{Match: "a", Action: ActionNormalize, Normalizer: "xml"}, `normalizer "xml": unknown`},
		{Rule{Match: "a.*", Action: ActionNormalize, Normalizer: NormalizeURL}, ""},
	} {
		cfg := base
		cfg.Attributes = []Rule{tc.rule}
		err := cfg.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: unexpected %v", tc.rule, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.rule, err, tc.want)
		}
	}
}
