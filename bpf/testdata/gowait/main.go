// Command gowait makes goroutines queue on one sync.Mutex whose holder
// sleeps: contended Go lock waits, which park goroutines in the Go
// scheduler without a futex. It prints the mutex's address, waits for a
// line on stdin, runs, prints "done" and exits at the next line or EOF.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"
)

var mu sync.Mutex

func main() {
	fmt.Printf("mu %p\n", &mu)
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				mu.Lock()
				time.Sleep(2 * time.Millisecond)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println("done")
	in.Scan()
}
