package chdbenv

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	installed := filepath.Join(cache, "chdb", Version, "libchdb.so")
	ldDir := filepath.Join(dir, "ld")
	for _, p := range []string{installed, filepath.Join(ldDir, "libchdb.so")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit path wins even when missing", map[string]string{"CHDB_LIB_PATH": "/nowhere/libchdb.so", "MAILFERRY_CACHE": cache}, "/nowhere/libchdb.so"},
		{"the copy make deps installed", map[string]string{"MAILFERRY_CACHE": cache, "LD_LIBRARY_PATH": ldDir}, installed},
		{"default cache under HOME", map[string]string{"HOME": filepath.Join(dir, "nohome")}, ""},
		{"LD_LIBRARY_PATH", map[string]string{"MAILFERRY_CACHE": filepath.Join(dir, "empty"), "LD_LIBRARY_PATH": "/nope::" + ldDir}, filepath.Join(ldDir, "libchdb.so")},
		{"nothing", map[string]string{"MAILFERRY_CACHE": filepath.Join(dir, "empty")}, ""},
	}
	for _, tc := range tests {
		if got := locate(env(tc.env)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMakefilePinsTheSameVersion keeps `make deps` installing the library
// this package looks for.
func TestMakefilePinsTheSameVersion(t *testing.T) {
	b, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CHDB_VERSION\s*:?=\s*(\S+)`).FindSubmatch(b)
	if m == nil || string(m[1]) != Version {
		t.Fatalf("the Makefile's CHDB_VERSION is %q, chdbenv.Version is %s", m, Version)
	}
}
