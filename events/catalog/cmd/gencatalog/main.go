// Command gencatalog writes the event catalog to the path given as its only
// argument (docs/events.md from `make catalog`).
package main

import (
	"fmt"
	"os"

	"github.com/mailferry/mailferry/events/catalog"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencatalog PATH")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(catalog.Markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
