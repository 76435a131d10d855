package project_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data map[string]any
}

// openStream starts GET path as an event stream; events arrive on the
// channel, which closes when the stream ends.
func openStream(t *testing.T, ctx context.Context, url, key string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = map[string]any{}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
					ev.data = map[string]any{"undecodable": line}
				}
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp, ch
}

// next waits for the next event named name, skipping others, and returns
// the names of the events skipped on the way.
func next(t *testing.T, ch <-chan sseEvent, name string, timeout time.Duration) (sseEvent, []string) {
	t.Helper()
	var skipped []string
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended before a %q event (saw %v)", name, skipped)
			}
			if ev.name == name {
				return ev, skipped
			}
			skipped = append(skipped, ev.name)
		case <-deadline:
			t.Fatalf("no %q event within %s (saw %v)", name, timeout, skipped)
		}
	}
}

func runsOf(ev sseEvent) []map[string]any {
	var out []map[string]any
	list, _ := ev.data["runs"].([]any)
	for _, r := range list {
		m, _ := r.(map[string]any)
		out = append(out, m)
	}
	return out
}

// TestProjectEventStream: the project's event stream pushes the runs as
// they change, only when they change, and says so in an error event when
// a read model it asks (telemetry, not running here) cannot answer; it is
// refused without a key and for another account's project, and ends when
// the service shuts down.
func TestProjectEventStream(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, key := h.account(t, "A")
	_, other := h.account(t, "B")
	code, p := h.call(t, key, "POST", "/api/projects", map[string]string{"name": "live", "source": "memory", "destination": "memory"})
	if code != 201 {
		t.Fatalf("create project: %d %v", code, p)
	}
	pid := p["id"].(string)
	path := "/api/projects/" + pid + "/events"

	for _, tc := range []struct {
		name, key, path string
		want            int
	}{
		{"no key", "", path, 401},
		{"another account", other, path, 404},
		{"run of no such id", key, path + "?runId=run_nope", 404},
		{"bad paging", key, path + "?limit=x", 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.api+tc.path, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(body), `"code"`) {
				t.Fatalf("%d %s, want %d with a coded error", resp.StatusCode, body, tc.want)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, events := openStream(t, ctx, h.api+path, key)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	first, _ := next(t, events, "runs", 10*time.Second)
	if len(runsOf(first)) != 0 {
		t.Fatalf("a new project's first runs event: %v", first.data)
	}
	// Telemetry does not run in this test: the stream says so, once, and
	// goes on; the unchanged runs are not sent again meanwhile.
	failure, skipped := next(t, events, "error", 20*time.Second)
	if e, _ := failure.data["error"].(map[string]any); e["code"] != "unavailable" || e["cause"] == "" {
		t.Fatalf("error event %v, want an unavailable coded error", failure.data)
	}
	if len(skipped) != 0 {
		t.Fatalf("events %v came between the first runs and the error; the runs had not changed", skipped)
	}

	// A run appears on the stream without being asked for.
	if code, out := h.call(t, key, "PUT", "/api/projects/"+pid+"/credentials/source", map[string]any{
		"fields": map[string]string{"endpoint": "http://127.0.0.1:9", "tenant": "src"}, "secrets": map[string]string{"token": "t"}}); code != 200 {
		t.Fatalf("credentials: %d %v", code, out)
	}
	code, created := h.call(t, key, "POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"})
	if code != 201 && code != 202 {
		t.Fatalf("discovery run: %d %v", code, created)
	}
	runID := created["run"].(map[string]any)["id"].(string)
	for {
		ev, skipped := next(t, events, "runs", 20*time.Second)
		for _, s := range skipped {
			if s != "error" {
				t.Fatalf("unexpected event %q", s)
			}
		}
		runs := runsOf(ev)
		if len(runs) == 1 && runs[0]["id"] == runID && runs[0]["state"] == "approved" {
			break
		}
	}

	// The stream ends when the service stops, rather than holding it up.
	h.stop()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		var keep []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "services/project.") {
				keep = append(keep, g)
			}
		}
		t.Fatalf("the stream did not end when the service stopped\n%s", strings.Join(keep, "\n\n"))
	}
}
