package bpf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/debugai/debugai/internal/testenv"
)

// requireEBPF skips t when the machine cannot load the probes (not root,
// no kernel BTF), or fails it when DEBUGAI_REQUIRE_EBPF=1 says it must.
func requireEBPF(t testing.TB) {
	t.Helper()
	testenv.RequireEBPF(t)
}

// probesOnly leaves only the named probes of cfg enabled ("Futex",
// "Runqueue", "TCP", "Block", "PageFault", "Fsync": the Disable<name>
// fields) and disables every other one, including probes added after the
// test was written. A test then receives only the kinds of events its
// workload is meant to cause: TestBlockIODirectWrites once failed on the
// fdatasync its workload made, reported by the fsync probe its list of
// disabled probes predated.
func probesOnly(t testing.TB, cfg *Config, names ...string) {
	t.Helper()
	keep := map[string]bool{}
	for _, n := range names {
		keep["Disable"+n] = true
	}
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !strings.HasPrefix(f.Name, "Disable") || f.Type.Kind() != reflect.Bool {
			continue
		}
		v.Field(i).SetBool(!keep[f.Name])
		delete(keep, f.Name)
	}
	for name := range keep {
		t.Fatalf("probesOnly: Config has no field %s", name)
	}
}

// TestProbesOnly checks probesOnly against every probe switch of Config.
func TestProbesOnly(t *testing.T) {
	cfg := DefaultConfig()
	probesOnly(t, &cfg, "Block", "Fsync")
	v := reflect.ValueOf(cfg)
	var enabled []string
	n := 0
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if strings.HasPrefix(f.Name, "Disable") && f.Type.Kind() == reflect.Bool {
			n++
			if !v.Field(i).Bool() {
				enabled = append(enabled, f.Name)
			}
		}
	}
	if n < 6 || len(enabled) != 2 || enabled[0] != "DisableBlock" || enabled[1] != "DisableFsync" {
		t.Errorf("%d probe switches, enabled %v; want only DisableBlock and DisableFsync false", n, enabled)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
