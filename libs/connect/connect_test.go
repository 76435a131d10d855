package connect_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/connect"
	"github.com/mailferry/mailferry/libs/connectors/google"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
)

type secrets map[string]map[string]string

func (s secrets) Get(_ context.Context, ref string) (map[string]string, error) {
	v, ok := s[ref]
	if !ok {
		return nil, errs.New(errs.NotFound, "no credentials under "+ref, "")
	}
	return v, nil
}

func TestOpen(t *testing.T) {
	t.Parallel()
	store := memory.NewStore()
	tn := store.AddTenant("t", "t.example")
	tn.AddMailbox(platform.Mailbox{PrimaryAddress: "a@t.example"})
	srv := httptest.NewServer(memory.NewHandler(store))
	defer srv.Close()
	op, err := connect.NewOpener(secrets{"good": {"token": tn.Token()}, "bad": {"token": "nope"},
		"notakey": {"serviceAccountKey": `{"type":"authorized_user"}`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fields := map[string]string{"endpoint": srv.URL, "tenant": "t"}

	c, err := op.Open(ctx, platform.Memory, fields, "good")
	if err != nil {
		t.Fatal(err)
	}
	if mbs, err := c.ListMailboxes(ctx); err != nil || len(mbs) != 1 {
		t.Fatalf("list: %v %v", mbs, err)
	}
	c, _ = op.Open(ctx, platform.Memory, fields, "bad")
	if _, err := c.ListMailboxes(ctx); !errs.Is(err, errs.AuthFailed) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := op.Open(ctx, platform.Memory, fields, "missing"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	// Microsoft 365 has its connector: without a tenant id it says which
	// field is missing rather than that the platform is unsupported.
	if _, err := op.Open(ctx, platform.M365, nil, "good"); !errs.Is(err, errs.Invalid) {
		t.Errorf("m365 without fields: %v, want %s", err, errs.Invalid)
	}
	// So has Google Workspace: without its key it says which secret is
	// missing, and a key that is no service-account key is refused as
	// such before anything is called.
	if _, err := op.Open(ctx, platform.Google, map[string]string{"adminEmail": "admin@t.example"}, "good"); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "serviceAccountKey") {
		t.Errorf("google without a key: %v, want %s naming serviceAccountKey", err, errs.Invalid)
	}
	if _, err := op.Open(ctx, platform.Google, map[string]string{"adminEmail": "admin@t.example"}, "notakey"); !errs.Is(err, google.CodeKeyMalformed) {
		t.Errorf("google with a malformed key: %v, want %s", err, google.CodeKeyMalformed)
	}
	// Exchange reached directly: without its EWS URL it says so.
	if _, err := op.Open(ctx, platform.Exchange, map[string]string{"username": "svc"}, "good"); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "ewsUrl") {
		t.Errorf("exchange without an EWS URL: %v, want %s naming ewsUrl", err, errs.Invalid)
	}
	if _, err := op.Open(ctx, "lotus", nil, "good"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("unknown platform: %v", err)
	}
	if _, err := connect.NewOpener(nil, nil); err == nil {
		t.Fatal("nil secret reader accepted")
	}
}

// echoing is a connector whose platform puts the password in its errors,
// as some real servers do in their fault messages.
type echoing struct {
	platform.Connector
	secret string
}

func (e echoing) ListMailboxes(context.Context) ([]platform.Mailbox, error) {
	return nil, errs.Wrap(errs.AuthFailed, errors.New("server said: bad password "+e.secret), "login failed for password "+e.secret, "check "+e.secret)
}

func (e echoing) DeleteItem(_ context.Context, _ string, p platform.Placed) error {
	return errs.New(errs.Forbidden, "cannot delete "+p.ID+" with password "+e.secret, "check "+e.secret)
}

func (e echoing) Stats(context.Context, string) (platform.Stats, error) {
	return platform.Stats{}, context.Canceled
}

func TestErrorsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-Secret!"
	c := connect.WrapForTest(echoing{secret: secret}, map[string]string{"password": secret})
	_, err := c.ListMailboxes(context.Background())
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error leaks the secret: %v", err)
	}
	e, ok := errs.As(err)
	if !ok || e.Code != errs.AuthFailed || strings.Contains(e.Cause+e.Action, secret) || !strings.Contains(e.Cause, "[redacted]") {
		t.Fatalf("coded error not kept or not scrubbed: %+v", e)
	}
	// The delete of a delta run goes through the same scrubbing.
	err = c.DeleteItem(context.Background(), "mbx", platform.Placed{ID: "itm"})
	if e, ok := errs.As(err); !ok || e.Code != errs.Forbidden || strings.Contains(err.Error(), secret) || !strings.Contains(e.Cause, "itm") {
		t.Fatalf("DeleteItem error not forwarded or not scrubbed: %v", err)
	}
	if _, err := c.Stats(context.Background(), "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("an error without a secret must keep its chain: %v", err)
	}
}

// exporting is a connector with a native format whose errors echo the
// password.
type exporting struct {
	echoing
}

func (exporting) NativeReadFormat(context.Context) (string, error)  { return "x-test/1", nil }
func (exporting) NativeWriteFormat(context.Context) (string, error) { return "x-test/1", nil }

func (e exporting) ReadNative(_ context.Context, _ string, ref platform.ItemRef) (platform.NativeItem, error) {
	return platform.NativeItem{}, errs.New(errs.Forbidden, "cannot export "+ref.ID+" with "+e.secret, "")
}

func (e exporting) WriteNative(context.Context, string, string, platform.NativeItem, string) (string, error) {
	return "", errs.New(errs.Forbidden, "cannot import with "+e.secret, "")
}

func (e exporting) DeleteNative(context.Context, string, platform.Placed) error {
	return errs.New(errs.Forbidden, "cannot delete with "+e.secret, "")
}

// TestNativePathThroughTheWrapper: the engine sees connectors only through
// the redacting wrapper, so the wrapper must offer the native path exactly
// when the connector does, and scrub its errors too.
func TestNativePathThroughTheWrapper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "Sup3r-Secret!"
	plain := connect.WrapForTest(echoing{secret: secret}, map[string]string{"password": secret})
	if _, _, _, ok, err := platform.NativePath(ctx, plain, plain); ok || err != nil {
		t.Fatalf("a connector without a native format got the native path (ok=%v, err=%v)", ok, err)
	}
	if _, err := plain.(platform.NativeSource).ReadNative(ctx, "mbx", platform.ItemRef{ID: "i"}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("ReadNative on a connector without it: %v", err)
	}
	native := connect.WrapForTest(exporting{echoing{secret: secret}}, map[string]string{"password": secret})
	ns, nd, format, ok, err := platform.NativePath(ctx, native, native)
	if !ok || err != nil || format != "x-test/1" {
		t.Fatalf("native path not offered through the wrapper: ok=%v format=%q err=%v", ok, format, err)
	}
	_, rerr := ns.ReadNative(ctx, "mbx", platform.ItemRef{ID: "itm"})
	_, werr := nd.WriteNative(ctx, "mbx", "f", platform.NativeItem{}, "m")
	derr := nd.DeleteNative(ctx, "mbx", platform.Placed{ID: "itm"})
	for _, err := range []error{rerr, werr, derr} {
		if !errs.Is(err, errs.Forbidden) || strings.Contains(err.Error(), secret) {
			t.Errorf("native error not forwarded or not scrubbed: %v", err)
		}
	}
}
