// Package logtrim keeps log lines readable: it wraps a slog.Handler so
// that a string attribute longer than a limit (a record id or name that a
// remote system let grow to kilobytes) is cut short, with how much was
// left out. Only log lines are cut; the sync log keeps every value whole.
//
// It must not drop attributes or touch the message, and it cuts strings
// only, at a character boundary.
package logtrim

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"unicode/utf8"
)

// DefaultMax is the longest string attribute, in bytes, kept whole.
const DefaultMax = 256

// New returns a handler that passes records to h with every string
// attribute longer than max bytes cut to max (DefaultMax when max ≤ 0).
func New(h slog.Handler, max int) slog.Handler {
	if max <= 0 {
		max = DefaultMax
	}
	return &handler{h: h, max: max}
}

type handler struct {
	h   slog.Handler
	max int
}

func (t *handler) Enabled(ctx context.Context, l slog.Level) bool { return t.h.Enabled(ctx, l) }

func (t *handler) Handle(ctx context.Context, r slog.Record) error {
	long := false
	r.Attrs(func(a slog.Attr) bool {
		long = t.needs(a.Value)
		return !long
	})
	if !long {
		return t.h.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(t.attr(a))
		return true
	})
	return t.h.Handle(ctx, out)
}

func (t *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cut := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cut[i] = t.attr(a)
	}
	return &handler{h: t.h.WithAttrs(cut), max: t.max}
}

func (t *handler) WithGroup(name string) slog.Handler {
	return &handler{h: t.h.WithGroup(name), max: t.max}
}

// needs reports whether v has a string to cut, so that most records pass
// through without a copy.
func (t *handler) needs(v slog.Value) bool {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return len(v.String()) > t.max
	case slog.KindGroup:
		for _, a := range v.Group() {
			if t.needs(a.Value) {
				return true
			}
		}
	case slog.KindAny:
		s, ok := stringOf(v.Any())
		return ok && len(s) > t.max
	}
	return false
}

func (t *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, t.cut(v.String()))
	case slog.KindGroup:
		g := v.Group()
		cut := make([]any, len(g))
		for i, ga := range g {
			cut[i] = t.attr(ga)
		}
		return slog.Group(a.Key, cut...)
	case slog.KindAny:
		// A named string type (an object type, an id type) logs as Any.
		if s, ok := stringOf(v.Any()); ok && len(s) > t.max {
			return slog.String(a.Key, t.cut(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// stringOf returns the value of a string-kinded value other than error
// and fmt.Stringer types, whose text is their own business.
func stringOf(v any) (string, bool) {
	switch v.(type) {
	case error, fmt.Stringer, nil:
		return "", false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.String {
		return "", false
	}
	return rv.String(), true
}

// cut keeps at most max bytes of s, ending on a character boundary, and
// says how many bytes were left out.
func (t *handler) cut(s string) string {
	if len(s) <= t.max {
		return s
	}
	n := t.max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:n], len(s)-n)
}
