package exporter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/errs"
)

func TestAggregateKeysAndTopics(t *testing.T) {
	t.Parallel()
	cat, err := newCatalog("acme.")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ, subject, topic, key string
		exported                 bool
	}{
		{"project.run_requested", "project.run.run_1", "acme.project", "run_1", true},
		{"project.agent_token_created", "project.agenttoken.tok_9", "acme.project", "tok_9", true},
		{"billing.credits_held", "billing.account.acc_1", "acme.billing", "acc_1", true},
		{"transfer.item_outcomes", "transfer.items.run_1.ab12cd", "acme.transfer", "run_1.ab12cd", true},
		{"progress.mailbox", "progress.mailbox.run_1.ab12cd", "acme.progress", "run_1.ab12cd", true},
		{"transfer.mailbox_job", "transferwork.3", "", "", false},
		{"nobody.knows_me", "project.run.run_1", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			h := map[string][]string{"Mailferry-Type": {tc.typ}, "Nats-Msg-Id": {"ev-1"}}
			rec, ok := cat.record(tc.subject, h, []byte(`{}`))
			if ok != tc.exported {
				t.Fatalf("exported = %v, want %v", ok, tc.exported)
			}
			if ok && (rec.Topic != tc.topic || string(rec.Key) != tc.key) {
				t.Errorf("topic %q key %q, want %q %q", rec.Topic, rec.Key, tc.topic, tc.key)
			}
		})
	}
	for _, st := range cat.streams {
		if st == "TRANSFERWORK" || st == "POISON" {
			t.Errorf("stream %s is exported", st)
		}
	}
}

func TestConfigErrorsAreCoded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{name: "plain", cfg: Config{SASLMechanism: "plain", SASLUser: "u", SASLPassword: "p"}},
		{name: "scram-sha-512", cfg: Config{SASLMechanism: "SCRAM-SHA-512", SASLUser: "u", SASLPassword: "p"}},
		{name: "TLS with system roots", cfg: Config{TLS: true}},
		{name: "unknown mechanism", cfg: Config{SASLMechanism: "GSSAPI", SASLUser: "u", SASLPassword: "pw-9f3b27"}, want: "GSSAPI"},
		{name: "mechanism without password", cfg: Config{SASLMechanism: "PLAIN", SASLUser: "u"}, want: "MAILFERRY_KAFKA_SASL_PASSWORD"},
		{name: "missing CA file", cfg: Config{TLSCAFile: filepath.Join(dir, "none.pem")}, want: "MAILFERRY_KAFKA_TLS_CA_FILE"},
		{name: "CA file without PEM", cfg: Config{TLSCAFile: notPEM}, want: "no PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Brokers = []string{"127.0.0.1:9092"}
			_, err := clientOptions(tc.cfg, bustest.Logger(t))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Code != errs.Invalid || !strings.Contains(e.Cause+" "+e.Action, tc.want) {
				t.Fatalf("got %v, want an invalid_input error naming %s", err, tc.want)
			}
			if tc.cfg.SASLPassword != "" && strings.Contains(err.Error(), tc.cfg.SASLPassword) {
				t.Fatal("the password is in the error")
			}
		})
	}
}

// TestSASL: the exporter authenticates with each mechanism a kfake cluster
// requiring SASL accepts.
func TestSASL(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			kafka := newKafka(t, kfake.EnableSASL(), kfake.Superuser(mech, "exporter", "s3cret-"+mech))
			srv := bustest.RunServer(t, "")
			b := bustest.Open(t, srv.ClientURL())
			want := publishMany(t, b, "sasl", 20)
			startExporter(t, srv.ClientURL(), kafka.ListenAddrs(), func(c *Config) {
				c.SASLMechanism, c.SASLUser, c.SASLPassword = strings.ToLower(mech), "exporter", "s3cret-"+mech
			})
			var m kgo.Opt
			switch mech {
			case "PLAIN":
				m = kgo.SASL(plain.Auth{User: "exporter", Pass: "s3cret-" + mech}.AsMechanism())
			case "SCRAM-SHA-256":
				m = kgo.SASL(scram.Auth{User: "exporter", Pass: "s3cret-" + mech}.AsSha256Mechanism())
			default:
				m = kgo.SASL(scram.Auth{User: "exporter", Pass: "s3cret-" + mech}.AsSha512Mechanism())
			}
			checkExported(t, readAll(t, kafka.ListenAddrs(), len(want), m), want)
		})
	}
}
