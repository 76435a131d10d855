// Package app wires the mailferry binary: the CLI, `mailferry serve <service>`
// and the all-in-one runner `mailferry up`.
package app

// ServiceNames are the services the binary can serve, each with `mailferry
// serve <name>`: the six bounded contexts and the exporter of their events
// to Kafka (idle unless MAILFERRY_KAFKA_BROKERS is set). Deploy files are
// checked against this list.
func ServiceNames() []string {
	return []string{"project", "discovery", "mapping", "billing", "transfer", "telemetry", "exporter"}
}
