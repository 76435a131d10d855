// Package winsvc runs the agent as a Windows service: install and
// uninstall it with the service control manager, and serve the manager's
// requests when Windows starts it. Elsewhere every function says the
// agent runs under the system's own supervisor instead (systemd: see
// docs/connector-agent.md).
package winsvc

// Name is the service's name in the service control manager.
const Name = "mailferry-connector-agent"

// DisplayName and Description are what services.msc shows.
const (
	DisplayName = "mailferry connector agent"
	Description = "Outbound-only connector of mailferry: serves migrations of the Exchange server in this network over HTTPS to the platform; listens on no port."
)
