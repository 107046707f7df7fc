package procstat

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Memory
		wantErr string
	}{
		{
			name: "full status",
			in: "Name:\totelcol\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  2000000 kB\n" +
				"VmSize:\t  1900000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t   100000 kB\nThreads:\t12\n",
			want: Memory{RSS: 100000 * 1024, Peak: 123456 * 1024},
		},
		{name: "kernel thread", in: "Name:\tkthreadd\nState:\tS (sleeping)\n", wantErr: ErrNoMemory.Error()},
		{name: "rss only", in: "VmRSS:\t 10 kB\n", wantErr: ErrNoMemory.Error()},
		{name: "bad unit", in: "VmHWM:\t 10 MB\nVmRSS:\t 10 kB\n", wantErr: `parsing VmHWM: value "10 MB": want "<n> kB"`},
		{name: "bad number", in: "VmHWM:\t x kB\nVmRSS:\t 10 kB\n", wantErr: `parsing VmHWM: value "x kB": strconv.ParseUint`},
		{name: "overflow", in: "VmHWM:\t 18446744073709551615 kB\nVmRSS:\t 1 kB\n", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	m, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self): %v", err)
	}
	if m.RSS == 0 || m.Peak < m.RSS {
		t.Errorf("Read(self) = %+v, want 0 < RSS <= Peak", m)
	}
}

func TestReadMissing(t *testing.T) {
	// Pid numbers stop far below 1<<30 (pid_max is at most 4194304).
	_, err := Read(1 << 30)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read(no such pid) error = %v, want os.ErrNotExist", err)
	}
}

func TestResetPeak(t *testing.T) {
	// Raise the peak 64 MiB above what stays resident, then reset it.
	const big, slack = 64 << 20, 16 << 20
	buf := make([]byte, big)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	runtime.KeepAlive(buf)
	buf = nil
	debug.FreeOSMemory()
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.Peak < before.RSS+big-slack {
		t.Fatalf("before reset: %+v, want the peak ~64 MiB above RSS", before)
	}
	if err := ResetPeak(os.Getpid()); err != nil {
		t.Fatalf("ResetPeak: %v", err)
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.Peak > after.RSS+slack {
		t.Errorf("after reset: %+v, want the peak within 16 MiB of RSS", after)
	}
}

func TestPeakOfExited(t *testing.T) {
	if _, ok := PeakOfExited(nil); ok {
		t.Error("PeakOfExited(nil) reported a peak")
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no /bin/true: %v", err)
	}
	peak, ok := PeakOfExited(cmd.ProcessState)
	if !ok || peak == 0 {
		t.Errorf("PeakOfExited(/bin/true) = %d, %v; want > 0, true", peak, ok)
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{
			name: "plain",
			in:   "30711 (otelcol-debugai) S 1 30711 30711 0 -1 4194560 21000 0 0 0 4510 930 0 0 20 0 12 0 115000 1360064000 19320 18446744073709551615",
			want: 54400 * time.Millisecond,
		},
		{
			name: "name with spaces and parens",
			in:   "42 (a (b) c) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond,
		},
		{name: "no name", in: "42 R 1", wantErr: "malformed stat"},
		{name: "short", in: "42 (x) R 1 2 3", wantErr: "4 fields after the name"},
		{name: "bad number", in: "42 (x) R 1 42 42 0 -1 0 0 0 0 0 x 3 0", wantErr: "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadStat) {
					t.Fatalf("ParseStat error = %v, want containing %q and ErrBadStat", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStat = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestReadCPUSelf(t *testing.T) {
	before, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatalf("ReadCPU(self): %v", err)
	}
	// Burn CPU until the counter moves (it ticks every 10 ms); bounded.
	x := 0
	for i := 0; i < 1e10; i++ {
		x += i
		if i%1e6 == 0 {
			after, err := ReadCPU(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if after > before {
				return
			}
		}
	}
	t.Errorf("cpu time stayed at %v (x=%d)", before, x)
}
