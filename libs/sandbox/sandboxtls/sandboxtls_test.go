package sandboxtls

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServerCertificateVerifiesAgainstItsCAOnly: a client trusting the CA
// reaches the server by every name the certificate was made for; a client
// trusting another sandbox's CA does not.
func TestServerCertificateVerifiesAgainstItsCAOnly(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ServerConfig("0.0.0.0", "exchange.test", "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	get := func(pool *tls.Config, name string) error {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool.RootCAs, ServerName: name})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	for _, name := range []string{"127.0.0.1", "localhost", "exchange.test", "10.1.2.3"} {
		if err := get(&tls.Config{RootCAs: ca.Pool()}, name); err != nil {
			t.Errorf("%s with the sandbox's CA: %v", name, err)
		}
	}
	if err := get(&tls.Config{RootCAs: ca.Pool()}, "elsewhere.test"); err == nil {
		t.Error("a name the certificate was not made for verified")
	}
	if err := get(&tls.Config{RootCAs: other.Pool()}, "127.0.0.1"); err == nil {
		t.Error("another sandbox's CA verified this sandbox's certificate")
	}
}
