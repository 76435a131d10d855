// Package errs gives every error a user can see a stable code, a cause in
// plain words and what to do about it. Codes are part of the public API: they
// never change meaning once released, so scripts can branch on them.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable error code such as "credits_insufficient".
type Code string

// Codes shared across services. Connectors and services may add their own,
// but must document them in docs/errors.md.
const (
	Invalid             Code = "invalid_input"
	NotFound            Code = "not_found"
	Unauthorized        Code = "unauthorized"
	Forbidden           Code = "forbidden"
	Conflict            Code = "conflict"
	CreditsShort        Code = "credits_insufficient"
	Throttled           Code = "throttled"
	Unavailable         Code = "unavailable"
	AuthFailed          Code = "platform_auth_failed"
	ItemTooLarge        Code = "item_too_large"
	CorruptItem         Code = "item_corrupt"
	MailboxMissing      Code = "mailbox_missing"
	UnsupportedPlatform Code = "platform_unsupported"
	Internal            Code = "internal"
)

// Error is a coded error. Cause and Action are written for the person reading
// them; they must never contain a secret.
type Error struct {
	Code   Code   `json:"code"`
	Cause  string `json:"cause"`
	Action string `json:"action,omitempty"`
	// Field names the input field at fault, for validation errors.
	Field string `json:"field,omitempty"`
	// RetryAfter is the wait the remote platform asked for, if any.
	RetryAfter time.Duration `json:"-"`
	Err        error         `json:"-"`
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Cause
	if e.Field != "" {
		s = string(e.Code) + ": " + e.Field + ": " + e.Cause
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a coded error with a plain cause and a suggested action.
func New(code Code, cause, action string) *Error {
	return &Error{Code: code, Cause: cause, Action: action}
}

// Wrap returns a coded error wrapping err.
func Wrap(code Code, err error, cause, action string) *Error {
	return &Error{Code: code, Cause: cause, Action: action, Err: err}
}

// Field returns a validation error naming the offending field.
func Field(field, cause string) *Error {
	return &Error{Code: Invalid, Field: field, Cause: cause, Action: "correct the field and send the request again"}
}

// Throttle returns a throttling error carrying the platform's Retry-After.
func Throttle(after time.Duration, cause string) *Error {
	return &Error{Code: Throttled, Cause: cause, RetryAfter: after,
		Action: fmt.Sprintf("nothing: mailferry waits %s and retries", after)}
}

// CodeOf returns the code of the first coded error in err's chain, or
// Internal when there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first coded error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
