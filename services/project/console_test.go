package project_test

import (
	"io"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleIsServed: the console's files come from the binary, without
// a key (they hold no data), with a policy that allows nothing from
// elsewhere and no inline script; every module a file imports is there.
func TestConsoleIsServed(t *testing.T) {
	t.Parallel()
	h := start(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(p string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(h.api + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, p := range []string{"/", "/console"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
			t.Errorf("GET %s: %d to %q, want a redirect to /console/", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, index := get("/console/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /console/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(index, "<script>") || strings.Contains(index, "http://") || strings.Contains(index, "https://") {
		t.Errorf("the page loads inline script or something from elsewhere:\n%s", index)
	}

	// Walk the modules from the entry point: each import must be served
	// as JavaScript, so a broken import fails here and not in a browser.
	importRe := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	seen := map[string]bool{}
	queue := []string{"/console/js/main.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, body := get(p)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		for _, m := range importRe.FindAllStringSubmatch(body, -1) {
			queue = append(queue, path.Join(path.Dir(p), m[1]))
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d modules reached from main.js: %v", len(seen), seen)
	}
	if resp, _ := get("/console/app.css"); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/console/nope.js", "/console/js/", "/console/../api/account"} {
		if resp, _ := get(p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}
