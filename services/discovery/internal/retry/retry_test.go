package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
)

func TestDo(t *testing.T) {
	t.Parallel()
	throttled := errs.Throttle(time.Millisecond, "slow down")
	boom := errs.New(errs.AuthFailed, "refused", "")
	tests := []struct {
		name      string
		answers   []error
		attempts  int
		wantCalls int
		wantCode  errs.Code
	}{
		{"success at once", []error{nil}, 5, 1, ""},
		{"throttled twice then fine", []error{throttled, throttled, nil}, 5, 3, ""},
		{"other errors are not retried", []error{boom}, 5, 1, errs.AuthFailed},
		{"gives up after the attempts", []error{throttled, throttled, throttled, throttled}, 3, 3, errs.Throttled},
		{"plain errors are not retried", []error{errors.New("x")}, 5, 1, errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls, waits := 0, 0
			p := Policy{Attempts: tt.attempts, Default: time.Millisecond, Max: time.Second,
				OnWait: func(time.Duration, *errs.Error) { waits++ }}
			v, err := Do(context.Background(), p, func(context.Context) (int, error) {
				e := tt.answers[calls]
				calls++
				if e != nil {
					return 0, e
				}
				return 42, nil
			})
			if calls != tt.wantCalls {
				t.Fatalf("calls %d, want %d", calls, tt.wantCalls)
			}
			if waits != calls-1 && tt.wantCode != errs.Throttled {
				t.Errorf("waits %d for %d calls", waits, calls)
			}
			if tt.wantCode == "" {
				if err != nil || v != 42 {
					t.Fatalf("got %d, %v", v, err)
				}
				return
			}
			if err == nil || errs.CodeOf(err) != tt.wantCode {
				t.Fatalf("err %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Do(ctx, Policy{Attempts: 100, Max: time.Hour}, func(context.Context) (int, error) {
		return 0, errs.Throttle(time.Hour, "slow down")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
