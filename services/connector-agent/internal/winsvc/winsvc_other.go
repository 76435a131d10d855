//go:build !windows

package winsvc

import (
	"context"
	"errors"
)

// ErrNotWindows is what the service commands answer elsewhere.
var ErrNotWindows = errors.New("Windows services exist only on Windows; elsewhere run `connector-agent run` under systemd or another supervisor (see docs/connector-agent.md)")

// Install is Windows only.
func Install(string, string) error { return ErrNotWindows }

// Uninstall is Windows only.
func Uninstall() error { return ErrNotWindows }

// IsService is false outside Windows.
func IsService() bool { return false }

// Run is Windows only.
func Run(func(ctx context.Context) error) error { return ErrNotWindows }
