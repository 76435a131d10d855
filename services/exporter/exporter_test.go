package exporter

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/svc"
)

// sent is an event the test published and expects in Kafka.
type sent struct {
	id, typ, subject, topic, key, corr string
	version                            int
}

var placeholder = regexp.MustCompile(`\{[^}]+\}`)

// publishCatalog publishes one event of every registered type, on a
// subject made from its pattern, and returns those that must be exported:
// all but the work queue's. It also parks a copy of one in the poison
// queue, as the bus does when a handler gives up, which must not be.
func publishCatalog(t *testing.T, b *bus.Bus, round string) []sent {
	t.Helper()
	ctx := context.Background()
	var out []sent
	for i, spec := range events.All() {
		n := 0
		subject := placeholder.ReplaceAllStringFunc(spec.Subject, func(string) string {
			n++
			return fmt.Sprintf("%s%d%c", round, i, 'a'+n)
		})
		ev := reflect.New(spec.Type).Elem().Interface().(events.Event)
		id := "ev-" + round + "-" + spec.Name
		corr := "corr-" + round + "-" + strconv.Itoa(i)
		if _, err := b.Publish(ctx, subject, ev, bus.WithID(id), bus.WithCorrelation(corr)); err != nil {
			t.Fatalf("publish %s on %s: %v", spec.Name, subject, err)
		}
		st, _ := streamOf(spec.Subject)
		if st.WorkQueue {
			continue
		}
		ctxName, _, _ := strings.Cut(spec.Name, ".")
		// The aggregate id is what the pattern's placeholders stand for.
		idAt := strings.Count(spec.Subject[:strings.Index(spec.Subject, "{")], ".")
		key := strings.Join(strings.Split(subject, ".")[idAt:], ".")
		out = append(out, sent{id: id, typ: spec.Name, version: spec.Version, subject: subject, topic: "mailferry." + ctxName, key: key, corr: corr})
	}
	poison := nats.NewMsg(bus.PoisonSubject("billing-runs"))
	poison.Header.Set(bus.HeaderType, "project.run_requested")
	poison.Header.Set(bus.HeaderVersion, "1")
	poison.Header.Set(nats.MsgIdHdr, "poison-"+round)
	poison.Data = []byte(`{}`)
	if _, err := b.JetStream().PublishMsg(ctx, poison); err != nil {
		t.Fatalf("poison: %v", err)
	}
	return out
}

// publishMany publishes n transfer.run_started-like events over a few runs,
// the bulk of a stream.
func publishMany(t *testing.T, b *bus.Bus, round string, n int) []sent {
	t.Helper()
	spec, _ := events.Lookup("transfer.run_started")
	out := make([]sent, 0, n)
	for i := 0; i < n; i++ {
		run := fmt.Sprintf("run-%s-%d", round, i%7)
		id := fmt.Sprintf("ev-%s-%d", round, i)
		ev := reflect.New(spec.Type).Elem().Interface().(events.Event)
		if _, err := b.Publish(context.Background(), "transfer.run."+run, ev, bus.WithID(id), bus.WithCorrelation(run)); err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{id: id, typ: spec.Name, version: spec.Version, subject: "transfer.run." + run, topic: "mailferry.transfer", key: run, corr: run})
	}
	return out
}

// startExporter runs an exporter on its own bus connection until the
// returned stop is called (or the test ends).
func startExporter(t *testing.T, natsURL string, brokers []string, with ...func(*Config)) (stop func()) {
	t.Helper()
	b := bustest.Open(t, natsURL)
	cfg := Config{Brokers: brokers, Batch: 50, AckWait: 3 * time.Second, Retry: 100 * time.Millisecond, ShutdownGrace: 300 * time.Millisecond}
	for _, w := range with {
		w(&cfg)
	}
	s, err := New(&svc.Deps{Name: "exporter", Bus: b, Log: bustest.Logger(t)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("exporter: %v", err)
		}
	}()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		<-done
		_ = b.Close()
	}
	t.Cleanup(stop)
	return stop
}

func newKafka(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// readAll returns every record of the exporter's topics once at least
// want distinct events were read and nothing is left past what was read:
// the whole content of the topics, duplicates included.
func readAll(t *testing.T, brokers []string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cat, _ := newCatalog("mailferry.")
	topics := cat.topics()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var recs []*kgo.Record
	distinct := map[string]bool{}
	next := map[string]int64{} // topic/partition -> next offset to read
	for {
		if len(distinct) >= want {
			ends, err := adm.ListEndOffsets(ctx, topics...)
			if err == nil {
				caughtUp := true
				ends.Each(func(o kadm.ListedOffset) {
					if o.Err == nil && o.Offset > next[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] {
						caughtUp = false
					}
				})
				if caughtUp {
					return recs
				}
			}
		}
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read %d records of at least %d before the deadline", len(recs), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			distinct[header(r, HeaderEventID)] = true
			next[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = r.Offset + 1
		})
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkExported asserts every sent event is in Kafka at least once, in
// its topic, under its key, with the envelope as headers, and nothing else
// is; it returns how many duplicates there were.
func checkExported(t *testing.T, recs []*kgo.Record, want []sent) int {
	t.Helper()
	byID := map[string]sent{}
	for _, s := range want {
		byID[s.id] = s
	}
	seen := map[string]int{}
	for _, r := range recs {
		id := header(r, HeaderEventID)
		s, ok := byID[id]
		if !ok {
			t.Errorf("unexpected record in %s: id %q type %q subject %q", r.Topic, id, header(r, bus.HeaderType), header(r, HeaderSubject))
			continue
		}
		seen[id]++
		if seen[id] > 1 {
			continue
		}
		got := []string{r.Topic, string(r.Key), header(r, bus.HeaderType), header(r, bus.HeaderVersion), header(r, bus.HeaderCorrelation), header(r, HeaderSubject)}
		exp := []string{s.topic, s.key, s.typ, strconv.Itoa(s.version), s.corr, s.subject}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: topic, key, type, version, correlation, subject = %q, want %q", id, got, exp)
		}
		if _, err := time.Parse(time.RFC3339Nano, header(r, bus.HeaderTime)); err != nil || r.Timestamp.IsZero() {
			t.Errorf("%s: time header %q, record timestamp %v", id, header(r, bus.HeaderTime), r.Timestamp)
		}
		if len(r.Value) == 0 || r.Value[0] != '{' {
			t.Errorf("%s: value %q is not the event's JSON body", id, r.Value)
		}
	}
	dups := 0
	for _, s := range want {
		switch n := seen[s.id]; {
		case n == 0:
			t.Errorf("%s (%s) was not exported", s.id, s.typ)
		case n > 1:
			dups += n - 1
		}
	}
	return dups
}

// inOrder asserts each key's events first appear in the order they were
// published (a batch sent again after a restart repeats what came before,
// which a consumer dropping duplicates by event id never sees).
func inOrder(t *testing.T, recs []*kgo.Record, want []sent) {
	t.Helper()
	pos := map[string]int{}
	for i, s := range want {
		pos[s.id] = i
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, r := range recs {
		id := header(r, HeaderEventID)
		p, ok := pos[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		k := r.Topic + "/" + string(r.Key)
		if prev, ok := last[k]; ok && p < prev {
			t.Errorf("key %s: event %d after %d", k, p, prev)
		}
		last[k] = max(last[k], p)
	}
}

// TestExportsExactlyTheCatalogOnce: every registered event but the work
// queue's reaches Kafka once, in its context's topic, keyed by aggregate
// id, with the envelope in headers; mailbox jobs and poison copies do not.
func TestExportsExactlyTheCatalogOnce(t *testing.T) {
	t.Parallel()
	kafka := newKafka(t)
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	want := publishCatalog(t, b, "a")
	startExporter(t, srv.ClientURL(), kafka.ListenAddrs())
	// Events published while it runs go the same way.
	want = append(want, publishCatalog(t, b, "b")...)
	recs := readAll(t, kafka.ListenAddrs(), len(want))
	if dups := checkExported(t, recs, want); dups != 0 {
		t.Errorf("%d duplicates without any failure", dups)
	}
	if len(recs) != len(want) {
		t.Errorf("%d records for %d events", len(recs), len(want))
	}
	var types []string
	for _, s := range want[:len(want)/2] {
		types = append(types, s.typ)
	}
	sort.Strings(types)
	for _, spec := range events.All() {
		if st, _ := streamOf(spec.Subject); !st.WorkQueue && sort.SearchStrings(types, spec.Name) == len(types) {
			t.Errorf("catalog event %s was not part of the check", spec.Name)
		}
	}
}

// TestKafkaOutageLosesNothing: Kafka goes away (the broker stops, its log
// kept on disk) while events keep coming; the exporter holds them, acks
// none, and exports them all once Kafka is back on the same address.
func TestKafkaOutageLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	kafka := newKafka(t, kfake.DataDir(dir), kfake.Ports(port))
	brokers := kafka.ListenAddrs()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	startExporter(t, srv.ClientURL(), brokers)

	want := publishMany(t, b, "before", 120)
	readAll(t, brokers, len(want))
	kafka.Close()

	want = append(want, publishMany(t, b, "during", 150)...)
	// Held, not acknowledged: the stream's consumer still owes them.
	cons, err := b.JetStream().Consumer(context.Background(), "TRANSFER", consumerName("TRANSFER"))
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, 30*time.Second, "the exporter holding events while Kafka is away", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending > 0
	})

	kafka = newKafka(t, kfake.DataDir(dir), kfake.Ports(port))
	want = append(want, publishMany(t, b, "after", 80)...)
	recs := readAll(t, brokers, len(want))
	dups := checkExported(t, recs, want)
	inOrder(t, recs, want)
	t.Logf("%d events, %d records, %d duplicates", len(want), len(recs), dups)
	if dups > 50 {
		t.Errorf("%d duplicates; at most one batch (50) may be sent twice", dups)
	}
}

// TestRestartMidStreamLosesNothing: an exporter stopped in the middle of a
// stream, while Kafka answers or while Kafka hangs on a batch past the
// shutdown grace, and a new one started later leave every event in Kafka,
// in order per aggregate, with at most that batch twice.
func TestRestartMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	for _, hang := range []bool{false, true} {
		t.Run(map[bool]string{false: "Kafka answering", true: "Kafka hanging"}[hang], func(t *testing.T) {
			t.Parallel()
			kafka := newKafka(t)
			brokers := kafka.ListenAddrs()
			srv := bustest.RunServer(t, "")
			b := bustest.Open(t, srv.ClientURL())
			want := publishMany(t, b, "first", 1000)
			// Watch the exporter's produce requests; in the hanging case
			// the fourth and later ones are held until released.
			produced := kafka.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
			release := make(chan struct{})
			var held atomic.Int32
			if hang {
				kafka.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
					kafka.KeepControl()
					if produced.Hits() >= 3 {
						held.Add(1)
						kafka.SleepControl(func() { <-release })
					}
					return nil, nil, false
				})
			}
			stop := startExporter(t, srv.ClientURL(), brokers)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := produced.Wait(ctx, 3); err != nil {
				t.Fatalf("the exporter did not start producing: %v", err)
			}
			if hang {
				bustest.Eventually(t, 30*time.Second, "a produce request held", func() bool { return held.Load() > 0 })
			}
			stop()
			close(release)
			first := len(readAll(t, brokers, 1))
			if first >= len(want) {
				t.Fatalf("the first exporter exported all %d events before it was stopped; the test needs it stopped midway", first)
			}
			want = append(want, publishMany(t, b, "second", 200)...)
			startExporter(t, srv.ClientURL(), brokers)
			want = append(want, publishMany(t, b, "third", 100)...)
			recs := readAll(t, brokers, len(want))
			dups := checkExported(t, recs, want)
			inOrder(t, recs, want)
			t.Logf("first exporter: %d records; in all %d events, %d records, %d duplicates", first, len(want), len(recs), dups)
			if dups > 50 {
				t.Errorf("%d duplicates; at most one batch (50) may be sent twice", dups)
			}
		})
	}
}

// TestExportOffWithoutBrokers: with no brokers the service only waits, so
// `mailferry up` can run it always.
func TestExportOffWithoutBrokers(t *testing.T) {
	t.Parallel()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	s, err := New(&svc.Deps{Name: "exporter", Bus: b, Log: bustest.Logger(t)}, Config{Brokers: []string{" ", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Enabled() {
		t.Fatal("enabled without brokers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := b.JetStream().Stream(context.Background(), "PROJECT")
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(context.Background())
	for n := range names.Name() {
		if strings.HasPrefix(n, ConsumerPrefix) {
			t.Errorf("consumer %s created while the export is off", n)
		}
	}
}

// TestRefusedBatchIsProducedAgain: records Kafka refuses (here: not
// authorised, twice) are produced again until taken, and each aggregate
// keeps its order.
func TestRefusedBatchIsProducedAgain(t *testing.T) {
	t.Parallel()
	kafka := newKafka(t)
	brokers := kafka.ListenAddrs()
	srv := bustest.RunServer(t, "")
	b := bustest.Open(t, srv.ClientURL())
	refused := kafka.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: 2})
	want := publishMany(t, b, "refused", 200)
	startExporter(t, srv.ClientURL(), brokers)
	recs := readAll(t, brokers, len(want))
	if refused.Hits() != 2 {
		t.Fatalf("Kafka refused %d produce requests, want 2", refused.Hits())
	}
	dups := checkExported(t, recs, want)
	inOrder(t, recs, want)
	if dups != 0 {
		t.Errorf("%d duplicates; refused records were never stored", dups)
	}
}
