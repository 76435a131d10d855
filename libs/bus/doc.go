// Package bus is mailferry's event bus: watermill over NATS JetStream.
//
// With no URL configured it starts an embedded nats-server with JetStream
// stored in the data directory, so one process runs the whole platform; with
// a URL it connects to that server or cluster. It provides:
//
//   - one stream per bounded context (events.Streams), created idempotently;
//   - Publish and Append of registered events with the envelope in headers
//     (type, version, event id as Nats-Msg-Id for server-side dedup,
//     correlation, causation, time, W3C trace context);
//   - Repo, event-sourced aggregates appended with the expected last subject
//     sequence, so two writers can never both win (ErrConflict, retried);
//   - Handle, durable consumers through a watermill router with retry and
//     backoff, a poison queue, and idempotency by event id;
//   - Serve and Query, read-only request-reply through the nats.go micro
//     package.
package bus
