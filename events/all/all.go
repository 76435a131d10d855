// Package all imports every event package so that a binary or the catalog
// generator sees the whole registry.
package all

import (
	_ "github.com/mailferry/mailferry/events/billing"
	_ "github.com/mailferry/mailferry/events/discovery"
	_ "github.com/mailferry/mailferry/events/mapping"
	_ "github.com/mailferry/mailferry/events/progress"
	_ "github.com/mailferry/mailferry/events/project"
	_ "github.com/mailferry/mailferry/events/transfer"
)
