package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mailferry/mailferry/libs/errs"
)

// maxRecordBytes lets the client send any event the bus accepts (8 MiB
// bodies, a run request carrying thousands of pairs) plus its headers. The
// topics' max.message.bytes must allow it too (see the README).
const maxRecordBytes = 8<<20 + 64<<10

// clientOptions turns the configuration into franz-go options: an
// idempotent producer (franz-go's default: acks from all in-sync replicas,
// retried without limit, so a Kafka outage delays records, never drops
// them), topics created on first use where the brokers allow it.
func clientOptions(cfg Config, log *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("mailferry-exporter"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(maxRecordBytes),
		kgo.AllowAutoTopicCreation(),
		kgo.WithLogger(kgoLogger{log: log}),
	}
	switch m := strings.ToUpper(strings.TrimSpace(cfg.SASLMechanism)); m {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if cfg.SASLUser == "" || cfg.SASLPassword == "" {
			return nil, errs.New(errs.Invalid, "MAILFERRY_KAFKA_SASL_MECHANISM is set without a user and password",
				"set MAILFERRY_KAFKA_SASL_USER and MAILFERRY_KAFKA_SASL_PASSWORD")
		}
		switch m {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism()))
		default:
			opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism()))
		}
	default:
		return nil, errs.New(errs.Invalid, fmt.Sprintf("MAILFERRY_KAFKA_SASL_MECHANISM %q is not supported", cfg.SASLMechanism),
			"use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or leave it empty")
	}
	if cfg.TLS || cfg.TLSCAFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, errs.Wrap(errs.Invalid, err, "MAILFERRY_KAFKA_TLS_CA_FILE cannot be read", "point it at the PEM file of the brokers' CA")
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errs.New(errs.Invalid, "MAILFERRY_KAFKA_TLS_CA_FILE holds no PEM certificate", "point it at the PEM file of the brokers' CA")
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// kgoLogger sends the client's warnings and errors to the service log;
// franz-go never logs credentials.
type kgoLogger struct{ log *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}
