package errs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCodesSurviveWrapping(t *testing.T) {
	t.Parallel()
	base := Throttle(3*time.Second, "the platform is busy")
	wrapped := fmt.Errorf("reading mailbox: %w", base)
	if CodeOf(wrapped) != Throttled {
		t.Fatalf("code %s", CodeOf(wrapped))
	}
	e, ok := As(wrapped)
	if !ok || e.RetryAfter != 3*time.Second || !strings.Contains(e.Action, "3s") {
		t.Fatalf("%+v", e)
	}
	if CodeOf(errors.New("plain")) != Internal {
		t.Fatal("an uncoded error must read as internal")
	}
	f := Field("source", "is not a platform")
	if !Is(f, Invalid) || f.Error() != "invalid_input: source: is not a platform" {
		t.Fatalf("%q", f.Error())
	}
	w := Wrap(AuthFailed, errors.New("401"), "the platform refused the credentials", "check them")
	if !errors.Is(w, w.Err) || !strings.HasSuffix(w.Error(), ": 401") {
		t.Fatalf("%q", w.Error())
	}
}
