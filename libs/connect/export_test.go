package connect

import "github.com/mailferry/mailferry/libs/platform"

// WrapForTest exposes the redacting wrapper to the external test package.
func WrapForTest(c platform.Connector, secrets map[string]string) platform.Connector {
	return wrap(c, secrets)
}
