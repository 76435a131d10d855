package graph_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func start(t *testing.T, cfg graph.Config) *graph.Sandbox {
	t.Helper()
	sb, err := graph.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// transport trusts only the sandbox's CA, as a client configured for it
// would.
func transport(sb *graph.Sandbox) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12}
	return tr
}

func clientOptions(sb *graph.Sandbox) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: sb.AuthorityURL(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: &http.Client{Transport: transport(sb)},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func secretCred(t *testing.T, sb *graph.Sandbox, tenant, client, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: clientOptions(sb), DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func defaultCred(t *testing.T, sb *graph.Sandbox) *azidentity.ClientSecretCredential {
	tid, cid, secret := sb.Credentials()
	return secretCred(t, sb, tid, cid, secret)
}

func getToken(ctx context.Context, cred azcore.TokenCredential) (string, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	return tok.Token, err
}

// claims decodes a JWT's payload without verifying it; the server's
// verification is what the Graph tests exercise.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

type clientOpts struct{ noRetry bool }

// client wires msgraph-sdk-go to the sandbox exactly as BRIEF section 7
// describes: kiota auth provider with the sandbox host as a valid host,
// the Graph middlewares over a transport trusting the sandbox CA, and
// the base URL.
func client(t *testing.T, sb *graph.Sandbox, cred azcore.TokenCredential, o clientOpts) *msgraphsdk.GraphServiceClient {
	t.Helper()
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	var mws []khttp.Middleware
	for _, m := range msgraphcore.GetDefaultMiddlewaresWithOptions(&opts) {
		if _, retry := m.(*khttp.RetryHandler); retry && o.noRetry {
			continue
		}
		mws = append(mws, m)
	}
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(transport(sb), mws...), Timeout: 60 * time.Second}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(sb.BaseURL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func sdkClient(t *testing.T, sb *graph.Sandbox) *msgraphsdk.GraphServiceClient {
	return client(t, sb, defaultCred(t, sb), clientOpts{})
}

// odataErr extracts Graph's error code and HTTP status from an SDK error.
func odataErr(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("want an OData error, got %T: %v", err, err)
	}
	if e := oe.GetErrorEscaped(); e != nil && e.GetCode() != nil {
		code = *e.GetCode()
	}
	return code, oe.ResponseStatusCode
}

// rawGet calls the sandbox without the SDK, to see status codes and
// headers the SDK hides.
func rawDo(t *testing.T, sb *graph.Sandbox, method, path, token string, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, sb.BaseURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{Transport: transport(sb), Timeout: 30 * time.Second}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return res, b
}

func token(t *testing.T, sb *graph.Sandbox) string {
	t.Helper()
	tok, err := getToken(context.Background(), defaultCred(t, sb))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ptr[T any](v T) *T { return &v }
