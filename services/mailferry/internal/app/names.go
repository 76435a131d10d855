// Package app wires the mailferry binary: the CLI, `mailferry serve <service>`
// and the all-in-one runner `mailferry up`.
package app

// ServiceNames are the bounded-context services the binary can serve, each
// with `mailferry serve <name>`. Deploy files are checked against this list.
func ServiceNames() []string {
	return []string{"project", "discovery", "mapping", "billing", "transfer", "telemetry"}
}
