package schemacheck_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/sandbox/ews/schemacheck"
)

// TestValidatorTellsValidFromDrifted proves the check can fail: envelopes
// from package soap pass, and the same envelopes with an element renamed,
// moved or put in the wrong namespace do not.
func TestValidatorTellsValidFromDrifted(t *testing.T) {
	v, err := schemacheck.New()
	if errors.Is(err, schemacheck.ErrUnavailable) {
		t.Skipf("needs the EWS schemas and xmllint: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	get := &soap.GetItem{ItemShape: soap.ItemShape{BaseShape: soap.ShapeIDOnly, IncludeMimeContent: soap.Bool(true)},
		ItemIDs: *soap.ItemList(soap.ItemID{ID: "AAMkAD"})}
	good, err := soap.BuildEnvelope(&soap.Header{RequestServerVersion: &soap.RequestServerVersion{Version: "Exchange2013_SP1"},
		ExchangeImpersonation: &soap.ExchangeImpersonation{ConnectingSID: soap.ConnectingSID{PrimarySmtpAddress: "a@b.example"}}}, get, nil)
	if err != nil {
		t.Fatal(err)
	}
	fault, err := soap.BuildEnvelope(&soap.Header{ServerVersionInfo: &soap.ServerVersionInfo{MajorVersion: 15, Version: "V2017_07_11"}}, nil,
		&soap.Fault{ResponseCode: "ErrorServerBusy", String: "The server cannot service this request right now. Try again later.",
			Values: map[string]string{"BackOffMilliseconds": "1500"}})
	if err != nil {
		t.Fatal(err)
	}
	drifted := [][]byte{
		bytes.Replace(good, []byte("t:BaseShape"), []byte("t:Shape"), 2),
		bytes.Replace(good, []byte("<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>"),
			[]byte("<m:ItemShape><t:IncludeMimeContent>true</t:IncludeMimeContent><t:BaseShape>IdOnly</t:BaseShape>"), 1),
		bytes.Replace(good, []byte("m:ItemIds"), []byte("t:ItemIds"), 2),
		bytes.Replace(good, []byte(`Version="Exchange2013_SP1"`), []byte(`Version="Exchange2099"`), 1),
	}
	for i, d := range drifted {
		if bytes.Equal(d, good) {
			t.Fatalf("drifted document %d is unchanged", i)
		}
	}
	fails, err := v.Validate(append([][]byte{good, fault}, drifted...))
	if err != nil {
		t.Fatal(err)
	}
	var bad []int
	for _, f := range fails {
		bad = append(bad, f.Index)
		if len(f.Messages) == 0 {
			t.Errorf("document %d failed without a message", f.Index)
		}
	}
	if len(bad) != 4 || bad[0] != 2 || bad[3] != 5 {
		t.Fatalf("failed documents %v, want [2 3 4 5]: %+v", bad, fails)
	}
}
