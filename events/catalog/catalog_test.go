package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/events"
)

// TestCatalogIsCurrent fails when docs/events.md no longer matches the
// registry, so the catalog can never silently go stale.
func TestCatalogIsCurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "docs", "events.md")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read catalog: %v (run `make catalog`)", err)
	}
	if string(got) != Markdown() {
		t.Fatalf("%s is stale: run `make catalog` and commit it", path)
	}
}

func TestEveryEventIsDocumented(t *testing.T) {
	t.Parallel()
	md := Markdown()
	all := events.All()
	if len(all) < 20 {
		t.Fatalf("registry has %d events; the event packages are not all imported", len(all))
	}
	for _, s := range all {
		if !strings.Contains(md, "### "+s.Name+"\n") {
			t.Errorf("catalog lacks a section for %s", s.Name)
		}
		if s.Doc == "" || len(s.Publishers) == 0 || len(s.Consumers) == 0 {
			t.Errorf("%s lacks doc, publishers or consumers", s.Name)
		}
		found := false
		for _, st := range events.Streams {
			for _, subj := range st.Subjects {
				if strings.HasPrefix(s.Subject, strings.TrimSuffix(subj, ">")) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s subject %s is on no stream", s.Name, s.Subject)
		}
	}
}
