package vault_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/vault"
)

func TestSealOpenAndTamper(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	ctx := context.Background()
	kv, err := b.KV(ctx, vault.Bucket, 0)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	v, err := vault.New(key, kv)
	if err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{"clientSecret": "s3cr3t-value"}
	if err := v.Put(ctx, "cred/p1/source", secret); err != nil {
		t.Fatal(err)
	}
	got, err := v.Get(ctx, "cred/p1/source")
	if err != nil || got["clientSecret"] != "s3cr3t-value" {
		t.Fatalf("got %v, %v", got, err)
	}
	// At rest the secret is not readable.
	e, err := kv.Get(ctx, "cred.p1.source")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Value(), []byte("s3cr3t-value")) {
		t.Fatal("secret stored in clear text")
	}
	// Copied under another reference, it does not open.
	if _, err := kv.Put(ctx, "cred.p2.source", e.Value()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "cred/p2/source"); err == nil {
		t.Fatal("sealed value opened under a different reference")
	}
	// Another key cannot open it, and the error says why without the secret.
	other, _ := vault.New(bytes.Repeat([]byte{8}, 32), kv)
	_, err = other.Get(ctx, "cred/p1/source")
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("s3cr3t")) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := v.Get(ctx, "cred/none/source"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing ref: %v", err)
	}
	_ = time.Second
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, err := vault.LoadKey("", dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v %d", err, len(k1))
	}
	k2, err := vault.LoadKey("", dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key file not reused")
	}
	if _, err := vault.LoadKey("not-base64!", ""); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad env key: %v", err)
	}
}
