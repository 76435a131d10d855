// Package connect opens a platform connector from a project's stored
// credentials: the non-secret fields travel in events, the secrets come from
// the vault at the moment the connector is opened and live only in memory.
package connect

import (
	"context"
	"errors"
	"net/http"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

// SecretReader is the part of the vault an opener needs.
type SecretReader interface {
	Get(ctx context.Context, ref string) (map[string]string, error)
}

// Opener opens connectors.
type Opener struct {
	secrets SecretReader
	http    *http.Client
	agents  agentOpener
}

// NewOpener returns an opener reading secrets from v. hc may be nil.
func NewOpener(v SecretReader, hc *http.Client, opts ...Option) (*Opener, error) {
	if v == nil {
		return nil, errors.New("connect: nil secret reader")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	o := &Opener{secrets: v, http: hc}
	for _, opt := range opts {
		opt(o)
	}
	return o, nil
}

// Open returns a connector for kind with the non-secret fields and the
// secrets stored under vaultRef.
func (o *Opener) Open(ctx context.Context, kind platform.Kind, fields map[string]string, vaultRef string) (platform.Connector, error) {
	if !kind.Valid() {
		return nil, errs.Field("platform", "unknown platform "+string(kind))
	}
	if IsAgent(kind, fields) {
		// The secrets stay with the agent; the vault holds none.
		return o.openAgent(kind, fields)
	}
	secrets, err := o.secrets.Get(ctx, vaultRef)
	if err != nil {
		return nil, err
	}
	creds := platform.Credentials{Platform: kind, Fields: fields, Secrets: secrets}
	switch kind {
	case platform.Memory:
		c, err := memory.Open(creds)
		if err != nil {
			return nil, err
		}
		return wrap(c, secrets), nil
	case platform.M365:
		c, err := m365.FromCredentials(ctx, creds)
		if err != nil {
			return nil, err
		}
		return wrap(c, secrets), nil
	case platform.Google:
		c, err := google.FromCredentials(ctx, creds)
		if err != nil {
			return nil, err
		}
		return wrap(c, secrets), nil
	case platform.Exchange:
		// Exchange reached directly over HTTPS; one served by an agent
		// was opened above.
		c, err := ews.FromCredentials(ctx, creds)
		if err != nil {
			return nil, err
		}
		return wrap(c, secrets), nil
	default:
		return nil, errs.New(errs.UnsupportedPlatform,
			"the "+Name(kind)+" connector is not part of this build yet",
			"use the memory sandbox platform to try mailferry; the "+Name(kind)+" connector ships with its own release")
	}
}

// Name is a platform's name for people.
func Name(k platform.Kind) string {
	switch k {
	case platform.M365:
		return "Microsoft 365"
	case platform.Google:
		return "Google Workspace"
	case platform.Exchange:
		return "Exchange on-premises"
	case platform.Memory:
		return "memory sandbox"
	}
	return string(k)
}
