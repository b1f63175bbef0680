package rules

import (
	"errors"
	"strings"

	billsync "github.com/billsync/billsync"
)

// ValidationError is one problem with a quote, naming the billing field at
// fault so the sync log (E5) can tell an operator exactly what to fix.
// Field uses the billing JSON names with a path for nested values, e.g.
// "crmAccountId" or "offerings[0].items[2].quantity". When the fault is in
// configuration rather than in the quote, Field names the setting key
// (quotes.pricebook).
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap exposes the error as an EINVALID *billsync.Error, so that
// billsync.ErrorCode and the retry policy treat it as permanent bad input.
func (e *ValidationError) Unwrap() error {
	return billsync.Errorf(billsync.EINVALID, "%s", e.Error())
}

// ValidationErrors is every problem found in one quote, in a stable order.
// It is returned whole so that an operator fixes a quote in one pass instead
// of discovering its faults one retry at a time.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return "quote is not valid: " + strings.Join(parts, "; ")
}

// Unwrap lets errors.As find each *ValidationError (and through it the
// EINVALID code).
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Fields lists the fields named, in order; handy for the sync log's
// short form and for tests.
func (es ValidationErrors) Fields() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Field
	}
	return out
}

// FieldOf returns the field named by the first ValidationError in err's
// chain, or "".
func FieldOf(err error) string {
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Field
	}
	return ""
}

func invalid(field, msg string) *ValidationError {
	return &ValidationError{Field: field, Message: msg}
}
