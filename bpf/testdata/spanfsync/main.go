// Command spanfsync runs goroutines that each open a file, fsync it once
// outside any span, then enter a span (hint.Enter) and fsync it several
// times while a CPU-bound goroutine competes for the single P. Halfway
// through its span each goroutine sleeps in a blocking system call until it
// comes back on another OS thread (the P is handed to another thread while
// it sleeps and stays busy there), so every goroutine changes threads
// inside its span whatever the file system's fsync costs. It prints
// "file <fd> span <span id hex>" per goroutine, "done" at the end, and
// exits at the next line on stdin.
//
// Usage: spanfsync DIR (run with GOMAXPROCS=1).
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/debugai/debugai/hint"
)

const goroutines, syncs = 8, 6

func main() {
	dir := os.Args[1]
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	in.Scan()

	var stop atomic.Bool
	spun := make(chan struct{})
	go func() { // keeps the P busy between the others' system calls
		defer close(spun)
		for !stop.Load() {
			for i := 0; i < 200000; i++ {
				_ = i * i
			}
			runtime.Gosched()
		}
	}()

	// All open at once: a closed file's descriptor would be reused.
	files := make([]*os.File, goroutines)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			panic(err)
		}
		defer f.Close()
		files[i] = f
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := files[i]
			var trace [16]byte
			var span [8]byte
			binary.BigEndian.PutUint64(trace[0:8], 0xdeb0_0000_0000_0000|uint64(i))
			binary.BigEndian.PutUint64(trace[8:16], 0x1111_2222_3333_4444)
			binary.BigEndian.PutUint64(span[:], 0x5a00_0000_0000_0000|uint64(i+1))
			mu.Lock()
			fmt.Printf("file %d span %x\n", f.Fd(), span)
			mu.Unlock()
			buf := make([]byte, 4096)
			mustSync(f, buf) // outside the span
			hint.Enter(trace, span)
			for k := 0; k < syncs; k++ {
				if k == syncs/2 {
					moveThread()
				}
				mustSync(f, buf)
			}
			hint.Exit(trace, span)
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-spun
	fmt.Println("done")
	in.Scan()
}

// moveThread returns on a different OS thread from the one it was called
// on: a 30 ms system call outlasts sysmon's longest poll (10 ms), so the P
// is retaken and, kept busy by the spinner, is not free when the call
// returns; the goroutine is queued and resumes on the thread holding the P.
func moveThread() {
	for range 50 {
		before := syscall.Gettid()
		ts := syscall.NsecToTimespec(int64(30 * time.Millisecond))
		_ = syscall.Nanosleep(&ts, nil)
		if syscall.Gettid() != before {
			return
		}
	}
	panic("spanfsync: 50 blocking sleeps never moved the goroutine to another thread")
}

func mustSync(f *os.File, buf []byte) {
	if _, err := f.Write(buf); err != nil {
		panic(err)
	}
	if err := f.Sync(); err != nil {
		panic(err)
	}
}
