package platformclient

import (
	"testing"

	"github.com/mailferry/mailferry/libs/errs"
)

// TestPlatformAddress: the agent speaks to the platform over HTTPS only,
// except to its own machine or when a laboratory says so.
func TestPlatformAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://mailferry.example.com", false, true},
		{"https://mailferry.example.com/", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://[::1]:8080", false, true},
		{"http://mailferry.example.com", false, false},
		{"http://mailferry.example.com", true, true},
		{"ftp://mailferry.example.com", false, false},
		{"mailferry.example.com", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		_, err := New(Config{URL: tc.url, InsecureHTTP: tc.insecure})
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, insecure=%v): %v, want ok=%v", tc.url, tc.insecure, err, tc.ok)
		}
		if err != nil && !errs.Is(err, errs.Invalid) {
			t.Errorf("New(%q): %v is not a field error", tc.url, err)
		}
	}
	if _, err := New(Config{URL: "https://x.example", CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
