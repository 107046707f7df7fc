// Command cgohello links C code before Go's text: the case where the Go
// function table does not start at the .text section.
package main

// static int twice(int x) { return 2 * x; }
import "C"

import "fmt"

func main() { fmt.Println(C.twice(21)) }
