// Package symbolize turns user-space addresses seen by the node collector
// (call sites of lock acquisitions, lock addresses) into names: the
// function and file:line of a code address, the data symbol holding a
// global lock. It reads /proc/<pid>/maps and the mapped ELF files: Go
// binaries through their function table (.gopclntab, present even when
// stripped), others through DWARF line tables and the symbol tables.
package symbolize

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrUnknown means an address is in no mapping or no symbol covers it.
var ErrUnknown = errors.New("address not symbolized")

// Site is a code location.
type Site struct {
	Func string
	File string
	Line int
}

// String is "func file:line", or what of it is known.
func (s Site) String() string {
	switch {
	case s.File == "":
		return s.Func
	case s.Func == "":
		return s.File + ":" + strconv.Itoa(s.Line)
	}
	return s.Func + " " + s.File + ":" + strconv.Itoa(s.Line)
}

// mapping is one line of /proc/<pid>/maps.
type mapping struct {
	start, end, offset uint64
	dev                string
	inode              uint64
	path               string
}

// Symbolizer caches process mappings (per pid) and parsed binaries (per
// device and inode). It is safe for concurrent use.
type Symbolizer struct {
	mu    sync.Mutex
	procs map[uint32]procMaps
	bins  map[string]*binary // by dev:inode
	root  string             // "/proc"
}

// procMaps are a process's mappings as read at a time.
type procMaps struct {
	maps []mapping
	read time.Time
}

// reloadAfter throttles re-reading a process's mappings when an address
// is in none of them (heap and stack addresses always miss).
const reloadAfter = time.Second

// New returns a Symbolizer reading /proc.
func New() *Symbolizer {
	return &Symbolizer{procs: map[uint32]procMaps{}, bins: map[string]*binary{}, root: "/proc"}
}

// Forget drops the cached mappings of pid (it exited or exec'd).
func (s *Symbolizer) Forget(pid uint32) {
	s.mu.Lock()
	delete(s.procs, pid)
	s.mu.Unlock()
}

// Code symbolizes a return address pc in process pid: the location of the
// call instruction before it.
func (s *Symbolizer) Code(pid uint32, pc uint64) (Site, error) {
	b, vaddr, err := s.locate(pid, pc)
	if err != nil {
		return Site{}, err
	}
	site, ok := b.code(vaddr - 1)
	if !ok {
		return Site{}, fmt.Errorf("pid %d pc %#x in %s: %w", pid, pc, b.path, ErrUnknown)
	}
	return site, nil
}

// Data names the data symbol that holds addr in process pid: "sym" or
// "sym+off". Heap and stack addresses have none (ErrUnknown).
func (s *Symbolizer) Data(pid uint32, addr uint64) (string, error) {
	b, vaddr, err := s.locate(pid, addr)
	if err != nil {
		return "", err
	}
	name, ok := b.data(vaddr)
	if !ok {
		return "", fmt.Errorf("pid %d address %#x: %w", pid, addr, ErrUnknown)
	}
	return name, nil
}

// locate finds the binary mapped at addr in pid and the address as that
// binary's link-time virtual address. Anonymous mappings directly after a
// file's (its .bss tail) count as the file's.
func (s *Symbolizer) locate(pid uint32, addr uint64) (*binary, uint64, error) {
	maps, err := s.mappings(pid, false)
	if err != nil {
		return nil, 0, err
	}
	m, first, ok := find(maps, addr)
	if !ok {
		// Mapped since we last looked (dlopen, a restart with the same pid).
		if maps, err = s.mappings(pid, true); err != nil {
			return nil, 0, err
		}
		if m, first, ok = find(maps, addr); !ok {
			return nil, 0, fmt.Errorf("pid %d address %#x: in no file mapping: %w", pid, addr, ErrUnknown)
		}
	}
	b, err := s.binary(pid, m)
	if err != nil {
		return nil, 0, err
	}
	bias, err := b.bias(first)
	if err != nil {
		return nil, 0, err
	}
	return b, addr - bias, nil
}

// find returns the file mapping covering addr (or whose anonymous tail
// covers it) and the first mapping of the same file.
func find(maps []mapping, addr uint64) (m, first mapping, ok bool) {
	var last mapping
	for _, x := range maps {
		if x.path != "" && x.inode != 0 {
			last = x
		}
		if addr < x.start || addr >= x.end {
			continue
		}
		if x.inode == 0 {
			if last.path == "" || last.end != x.start {
				return mapping{}, mapping{}, false
			}
			x = last
		}
		for _, y := range maps {
			if y.inode == x.inode && y.dev == x.dev {
				return x, y, true
			}
		}
	}
	return mapping{}, mapping{}, false
}

// mappings returns pid's cached mappings; reload re-reads them unless
// they were read less than reloadAfter ago.
func (s *Symbolizer) mappings(pid uint32, reload bool) ([]mapping, error) {
	s.mu.Lock()
	pm, ok := s.procs[pid]
	s.mu.Unlock()
	if ok && (!reload || time.Since(pm.read) < reloadAfter) {
		return pm.maps, nil
	}
	maps, err := readMaps(fmt.Sprintf("%s/%d/maps", s.root, pid))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs[pid] = procMaps{maps: maps, read: time.Now()}
	s.mu.Unlock()
	return maps, nil
}

func (s *Symbolizer) binary(pid uint32, m mapping) (*binary, error) {
	key := m.dev + ":" + strconv.FormatUint(m.inode, 10)
	s.mu.Lock()
	b, ok := s.bins[key]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	// Through /proc/<pid>/root so that files of other mount namespaces
	// (containers) open, and through map_files for deleted files
	// would need CAP_SYS_ADMIN: the path is enough here.
	path := fmt.Sprintf("%s/%d/root%s", s.root, pid, m.path)
	if _, err := os.Stat(path); err != nil {
		path = m.path
	}
	b, err := openBinary(path, m.path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.bins[key] = b
	s.mu.Unlock()
	return b, nil
}

// readMaps parses /proc/<pid>/maps.
func readMaps(path string) ([]mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading mappings: %w", err)
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMapsLine(sc.Text())
		if ok {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// parseMapsLine parses "start-end perms offset dev inode [path]".
func parseMapsLine(line string) (mapping, bool) {
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return mapping{}, false
	}
	var m mapping
	var err1, err2, err3, err4 error
	m.start, err1 = strconv.ParseUint(lo, 16, 64)
	m.end, err2 = strconv.ParseUint(hi, 16, 64)
	m.offset, err3 = strconv.ParseUint(fields[2], 16, 64)
	m.inode, err4 = strconv.ParseUint(fields[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil || m.end < m.start {
		return mapping{}, false
	}
	m.dev = fields[3]
	if len(fields) > 5 && strings.HasPrefix(fields[5], "/") {
		m.path = strings.Join(fields[5:], " ")
	} else {
		m.inode = 0
	}
	return m, true
}
