package billsync

import (
	"errors"
	"fmt"
)

// Application error codes. One place (httpserver) maps them to HTTP statuses.
const (
	EINVALID      = "invalid"      // bad input from a caller
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // stale version or duplicate
	EUNAUTHORIZED = "unauthorized" // missing or bad credentials or signature
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed (e.g. org binding)
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// ErrLeaseLost refuses a write made for a claimed change whose lease this
// claimer no longer holds: it stalled (a GC pause, a stopped process, a
// frozen VM) past the lease and another claimer took the change over, so
// whatever it would record now may undo that claimer's work. Stores wrap
// it; test with errors.Is. The caller drops the change: it is someone
// else's now.
var ErrLeaseLost = &Error{Code: ECONFLICT, Message: "the claim's lease was lost: another claimer took the change over"}

// Error is an application error with a stable code and a message safe to
// show to an operator.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error or *RemoteError in err's
// chain, EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var r *RemoteError
	if errors.As(err, &r) {
		return r.AppCode()
	}
	return EINTERNAL
}

// ErrorMessage returns the operator-facing message of err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// System names the remote party of a RemoteError.
type System string

const (
	SystemSalesforce System = "salesforce"
	SystemBilling    System = "billing"
)

// RemoteError is an error answered by Salesforce or the billing platform.
// Code is the remote system's own code (REQUIRED_FIELD_MISSING,
// INVALID_SESSION_ID, version_conflict…), kept verbatim for the sync log.
type RemoteError struct {
	System     System
	StatusCode int // HTTP status; 0 for a transport failure
	Code       string
	Message    string
	Fields     []string
	// Transient is true for failures worth retrying: 5xx, timeouts, dropped
	// connections, 429, and the remote codes its client knows to be
	// passing (a row lock, a spent allowance). The client sets it.
	Transient bool
	// RateLimited is true when the remote system refused the call because
	// the caller spent its API allowance (a 429, or the remote system's own
	// code for it): not the record's fault, so the engine pauses calls instead of
	// spending the record's attempts. The client that read the answer sets it.
	RateLimited bool
	Err         error // the underlying transport error, if any
}

func (e *RemoteError) Error() string {
	s := fmt.Sprintf("%s", e.System)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" %d", e.StatusCode)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Fields) > 0 {
		s += fmt.Sprintf(" %v", e.Fields)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RemoteError) Unwrap() error { return e.Err }

// AppCode maps the remote failure onto an application code.
func (e *RemoteError) AppCode() string {
	switch {
	case e.StatusCode == 401:
		return EUNAUTHORIZED
	case e.StatusCode == 403:
		return EFORBIDDEN
	case e.StatusCode == 404:
		return ENOTFOUND
	case e.StatusCode == 409:
		return ECONFLICT
	case e.Transient:
		return EUNAVAILABLE
	case e.StatusCode >= 400 && e.StatusCode < 500:
		return EINVALID
	}
	return EINTERNAL
}

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool {
	var r *RemoteError
	if errors.As(err, &r) {
		return r.Transient
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code == EUNAVAILABLE
	}
	return false
}

// RemoteCode returns the remote system's error code in err's chain, or "".
func RemoteCode(err error) string {
	var r *RemoteError
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// IsRateLimited reports whether err is a remote refusal for spent API
// allowance (RemoteError.RateLimited).
func IsRateLimited(err error) bool {
	var r *RemoteError
	return errors.As(err, &r) && r.RateLimited
}
