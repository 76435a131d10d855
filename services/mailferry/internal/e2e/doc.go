// Package e2e drives whole migrations through the public API: the six
// services as separate OS processes against one nats-server, and the same
// inside `mailferry up`. It builds the mailferry binary once per run.
package e2e
