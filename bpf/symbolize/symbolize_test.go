package symbolize

import (
	"errors"
	"os"
	"testing"
)

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want mapping
		ok   bool
	}{
		{"00400000-00452000 r-xp 00000000 fd:00 1234   /usr/bin/app", mapping{0x400000, 0x452000, 0, "fd:00", 1234, "/usr/bin/app"}, true},
		{"7f00-8000 rw-p 00001000 00:00 0 ", mapping{0x7f00, 0x8000, 0x1000, "00:00", 0, ""}, true},
		{"7f00-8000 rw-p 00000000 00:00 0 [heap]", mapping{0x7f00, 0x8000, 0, "00:00", 0, ""}, true},
		{"1000-2000 r--p 0 08:01 77 /path with spaces/lib.so", mapping{0x1000, 0x2000, 0, "08:01", 77, "/path with spaces/lib.so"}, true},
		{"2000-1000 r--p 0 08:01 77 /x", mapping{}, false},
		{"garbage", mapping{}, false},
		{"", mapping{}, false},
	} {
		got, ok := parseMapsLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMapsLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFindAnonymousTail(t *testing.T) {
	maps := []mapping{
		{start: 0x1000, end: 0x2000, offset: 0, dev: "08:01", inode: 5, path: "/bin/x"},
		{start: 0x2000, end: 0x3000, offset: 0x1000, dev: "08:01", inode: 5, path: "/bin/x"},
		{start: 0x3000, end: 0x4000, dev: "00:00"}, // .bss tail
		{start: 0x9000, end: 0xa000, dev: "00:00"}, // heap
	}
	m, first, ok := find(maps, 0x3800)
	if !ok || m.path != "/bin/x" || first.start != 0x1000 {
		t.Errorf("bss address: %+v %+v %v", m, first, ok)
	}
	if _, _, ok := find(maps, 0x9800); ok {
		t.Error("heap address attributed to a file")
	}
}

// TestSelf symbolizes a function of the test binary itself.
func TestSelf(t *testing.T) {
	s := New()
	pc := funcPC()
	site, err := s.Code(uint32(os.Getpid()), pc+1)
	if err != nil {
		t.Fatal(err)
	}
	if site.Func != "github.com/debugai/debugai/bpf/symbolize.funcPC" {
		t.Errorf("site %v", site)
	}
	if _, err := s.Data(uint32(os.Getpid()), 8); !errors.Is(err, ErrUnknown) {
		t.Errorf("address 8: error %v, want ErrUnknown", err)
	}
}

func FuzzParseMapsLine(f *testing.F) {
	f.Add("00400000-00452000 r-xp 00000000 fd:00 1234   /usr/bin/app")
	f.Add("7f00-8000 rw-p 00001000 00:00 0 [stack]")
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := parseMapsLine(line)
		if ok && (m.end < m.start || (m.path == "" && m.inode != 0)) {
			t.Fatalf("parseMapsLine(%q) = %+v", line, m)
		}
	})
}
