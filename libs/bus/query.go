package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/mailferry/mailferry/libs/errs"
)

// QueryFunc answers one read-only query. req is the JSON request body; the
// returned value is encoded as JSON. A coded error (errs.Error) reaches the
// caller with its code, cause and action intact.
type QueryFunc func(ctx context.Context, req json.RawMessage) (any, error)

// QuerySubject is the request subject of a query endpoint.
func QuerySubject(service, endpoint string) string { return "query." + service + "." + endpoint }

// Serve registers a micro service named service with one endpoint per
// query, on subjects query.<service>.<endpoint>. Any number of processes may
// serve the same service; NATS spreads requests across them.
func (b *Bus) Serve(service, version string, endpoints map[string]QueryFunc) error {
	svc, err := micro.AddService(b.nc, micro.Config{
		Name:        "mailferry-" + service,
		Version:     version,
		Description: "mailferry " + service + " read model queries",
	})
	if err != nil {
		return fmt.Errorf("bus: serve %s: %w", service, err)
	}
	g := svc.AddGroup("query." + service)
	for name, fn := range endpoints {
		fn := fn
		if err := g.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
			ctx := otel.GetTextMapPropagator().Extract(context.Background(), propagation.HeaderCarrier(r.Headers()))
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			out, err := fn(ctx, r.Data())
			if err != nil {
				e, ok := errs.As(err)
				if !ok {
					b.log.Error("query failed", "service", service, "endpoint", name, "error", err)
					e = errs.New(errs.Internal, "the query failed inside mailferry", "retry; if it keeps failing, report it with the correlation id")
				}
				body, _ := json.Marshal(e)
				_ = r.Error(string(e.Code), e.Cause, body)
				return
			}
			if err := r.RespondJSON(out); err != nil {
				// Most likely an answer over the bus's payload limit: say
				// so rather than let the caller time out.
				b.log.Error("query answer not sent", "service", service, "endpoint", name, "error", err)
				e := errs.New(errs.Invalid, "the answer is too large to send", "ask for a smaller page (limit)")
				body, _ := json.Marshal(e)
				_ = r.Error(string(e.Code), e.Cause, body)
			}
		})); err != nil {
			return fmt.Errorf("bus: endpoint %s.%s: %w", service, name, err)
		}
	}
	b.onClose(func() { _ = svc.Stop() })
	return nil
}

// Query asks service's endpoint and decodes the answer into resp. It returns
// the answering service's coded error, or errs.Unavailable when no process
// serves the query.
func (b *Bus) Query(ctx context.Context, service, endpoint string, req, resp any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(QuerySubject(service, endpoint))
	msg.Data = data
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(msg.Header))
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	// No responder is normal for a moment while a service starts or
	// restarts: ask again until the deadline rather than fail at once.
	reply, err := b.nc.RequestMsgWithContext(ctx, msg)
	for delay := 50 * time.Millisecond; errors.Is(err, nats.ErrNoResponders); delay = min(2*delay, time.Second) {
		select {
		case <-ctx.Done():
		case <-time.After(delay):
			reply, err = b.nc.RequestMsgWithContext(ctx, msg)
			continue
		}
		break
	}
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
			return errs.Wrap(errs.Unavailable, err, "the "+service+" service did not answer", "check that the "+service+" service is running")
		}
		return fmt.Errorf("bus: query %s.%s: %w", service, endpoint, err)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		var e errs.Error
		if json.Unmarshal(reply.Data, &e) == nil && e.Code != "" {
			return &e
		}
		return errs.New(errs.Code(code), reply.Header.Get(micro.ErrorHeader), "")
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(reply.Data, resp)
}
