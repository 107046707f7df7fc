// Command plainhello is a pure Go program.
package main

import "fmt"

func main() { fmt.Println(42) }
