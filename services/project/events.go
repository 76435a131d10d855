package project

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
)

// The project's live stream (GET /api/projects/{id}/events): server-sent
// events fed by the same read-model queries as the polling routes. The
// service asks them every streamEvery and pushes only what changed, so a
// console (or a script) watching a run needs no manual refresh and the
// read models see one asker per open stream, not one per browser poll.

// streamEvery is how often an open stream asks the read models again.
// Health is judged when asked (stalled, throttled waits), so a stream
// must ask even when no event arrived.
const streamEvery = time.Second

// keepaliveEvery sends a comment line on a quiet stream, so proxies and
// browsers do not drop it.
const keepaliveEvery = 15 * time.Second

// streamQueryTimeout bounds one read-model query of a stream tick: a slow
// service delays the next push instead of piling up ticks.
const streamQueryTimeout = 5 * time.Second

// stopStreams ends the open event streams at shutdown; safe to call
// more than once.
func (s *Service) stopStreams() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Unwrap lets http.ResponseController reach the connection's writer
// through the request logger (flushing the stream needs it).
func (f failureLogger) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// sseWriter writes server-sent events, skipping an event whose data is
// the same as the last one sent under its name.
type sseWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last map[string][]byte
	id   int
}

func (sw *sseWriter) send(name string, data []byte) error {
	data = bytes.TrimSpace(data)
	if prev, ok := sw.last[name]; ok && bytes.Equal(prev, data) {
		return nil
	}
	sw.last[name] = data
	sw.id++
	// JSON encodes newlines inside strings as \n, so compact JSON is one
	// line; Compact removes the indentation's line breaks.
	var line bytes.Buffer
	if err := json.Compact(&line, data); err != nil {
		return fmt.Errorf("event %s: %w", name, err)
	}
	if _, err := fmt.Fprintf(sw.w, "id: %d\nevent: %s\ndata: %s\n\n", sw.id, name, line.Bytes()); err != nil {
		return err
	}
	return sw.rc.Flush()
}

func (sw *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(sw.w, ": %s\n\n", text); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// projectEvents streams a project's runs and progress, and with ?runId=
// a page of that run's mailboxes (state, offset and limit as for
// GET /api/runs/{runID}/progress). Events:
//   - runs: {"runs": [...]} the project's runs and their states, newest first
//   - progress: the project's progress totals per run (as GET .../progress)
//   - run: the page of the run's mailboxes (as GET /api/runs/{id}/progress),
//     once transfer has started the run
//   - error: {"error": {...}} when a read model cannot answer; the stream
//     goes on and the next answer replaces it
func (s *Service) projectEvents(w http.ResponseWriter, r *http.Request) {
	p, err := s.project(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	// Paging applies to the run's page; it is checked whatever, so a
	// typo is refused rather than ignored.
	runReq := map[string]any{}
	if err := pagingInto(r, runReq); err != nil {
		writeErr(w, err)
		return
	}
	if id := q.Get("runId"); id != "" {
		run, ok := s.model.Run(id)
		if !ok || run.ProjectID != p.ID {
			writeErr(w, notFound("run"))
			return
		}
		runReq["runId"] = id
		if st := q.Get("state"); st != "" {
			runReq["state"] = st
		}
	} else {
		runReq = nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), last: map[string][]byte{}}
	// A reconnecting EventSource waits this long (ms) before it tries again.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}

	// Shutdown also ends a read-model query in progress.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(streamEvery)
	defer tick.Stop()
	quiet := time.Now()
	for {
		sent := sw.id
		if err := s.pushProject(ctx, sw, p.ID, runReq); err != nil {
			return // the client went away
		}
		if sw.id != sent {
			quiet = time.Now()
		} else if time.Since(quiet) >= keepaliveEvery {
			if sw.comment("keepalive") != nil {
				return
			}
			quiet = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pushProject sends what changed since the last tick; it fails only when
// the stream cannot be written.
func (s *Service) pushProject(ctx context.Context, sw *sseWriter, projectID string, runReq map[string]any) error {
	runs, _ := json.Marshal(map[string]any{"runs": nonNil(s.model.Runs(projectID))})
	if err := sw.send("runs", runs); err != nil {
		return err
	}
	ask := func(endpoint string, req any) (json.RawMessage, error) {
		qctx, cancel := context.WithTimeout(ctx, streamQueryTimeout)
		defer cancel()
		var out json.RawMessage
		err := s.d.Bus.Query(qctx, "telemetry", endpoint, req, &out)
		return out, err
	}
	var failure error
	if out, err := ask("project", map[string]any{"projectId": projectID}); err != nil {
		failure = err
	} else if err := sw.send("progress", out); err != nil {
		return err
	}
	if runReq != nil && failure == nil {
		out, err := ask("run", runReq)
		switch {
		case errs.Is(err, errs.NotFound):
			// Transfer has not started the run yet: nothing to show.
		case err != nil:
			failure = err
		default:
			if err := sw.send("run", out); err != nil {
				return err
			}
		}
	}
	if failure != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e, ok := errs.As(failure)
		if !ok {
			e = errs.New(errs.Unavailable, "the progress read model did not answer", "the stream retries every second; nothing needs doing")
		}
		data, _ := json.Marshal(map[string]any{"error": e})
		return sw.send("error", data)
	}
	// A later failure must be shown again even if it is the same one.
	delete(sw.last, "error")
	return nil
}
