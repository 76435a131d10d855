// Package local opens the agent's local connector: the platform inside
// the customer's network that the agent serves (Exchange on-premises
// through EWS; the memory sandbox for tests and demonstrations), from the
// settings and secrets kept on the agent's server.
//
// It mirrors libs/connect without linking the cloud connectors (the
// Microsoft Graph SDK alone would multiply the Windows executable's size):
// the agent only ever serves platforms inside the network.
package local

import (
	"context"
	"sort"
	"strings"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

// Exchange opens the EWS connector; exchange.go sets it to
// libs/connectors/ews. A build without it (remove exchange.go) answers
// every call with platform_unsupported, which the platform shows as the
// run's error.
var Exchange func(ctx context.Context, creds platform.Credentials) (platform.Connector, error)

// Kinds are the platforms an agent can serve.
var Kinds = []platform.Kind{platform.Exchange, platform.Memory}

// Open returns the local connector of kind.
func Open(ctx context.Context, kind platform.Kind, fields, secrets map[string]string) (platform.Connector, error) {
	creds := platform.Credentials{Platform: kind, Fields: fields, Secrets: secrets}
	switch kind {
	case platform.Memory:
		return memory.Open(creds)
	case platform.Exchange:
		if Exchange == nil {
			return nil, errs.New(errs.UnsupportedPlatform, "this build of the agent has no Exchange (EWS) connector yet",
				"install an agent release that includes the EWS connector")
		}
		return Exchange(ctx, creds)
	}
	return nil, errs.Field("platform", "an agent serves "+kindList()+", not "+string(kind))
}

func kindList() string {
	var s []string
	for _, k := range Kinds {
		s = append(s, string(k))
	}
	sort.Strings(s)
	return strings.Join(s, " or ")
}

// Scrubber returns a function blanking every secret value out of a text,
// so that no error the local platform returns can carry one to the
// platform.
func Scrubber(secrets map[string]string) func(string) string {
	var vals []string
	for _, v := range secrets {
		// Very short values would blank out ordinary words.
		if len(v) >= 4 {
			vals = append(vals, v)
		}
	}
	// Longer first, so a secret containing another is blanked whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	return func(s string) string {
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
		return s
	}
}
