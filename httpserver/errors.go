package httpserver

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/billsync/billsync"
)

// errorBody is the wire form of every error answer (SPEC §5.4).
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorStatus is the one place where an error becomes an HTTP status.
func errorStatus(err error) int {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	switch billsync.ErrorCode(err) {
	case billsync.EINVALID:
		return http.StatusBadRequest
	case billsync.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case billsync.EFORBIDDEN:
		return http.StatusForbidden
	case billsync.ENOTFOUND:
		return http.StatusNotFound
	case billsync.ECONFLICT:
		return http.StatusConflict
	case billsync.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err as {"error":{"code","message"}}. Internal errors
// are logged with their detail and answered with a generic message, since
// their text may name files, queries or hosts.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	code := billsync.ErrorCode(err)
	msg := billsync.ErrorMessage(err)
	switch {
	case status == http.StatusRequestEntityTooLarge:
		code, msg = billsync.EINVALID, "request body too large"
	case code == billsync.EINTERNAL:
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("method", r.Method), slog.String("path", s.logPath(r)), slog.Any("err", err))
		msg = "internal error"
	case status == http.StatusServiceUnavailable:
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "dependency unavailable",
			slog.String("method", r.Method), slog.String("path", s.logPath(r)), slog.Any("err", err))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="billsync"`)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value passed here is a plain struct of JSON-safe fields, so
		// this only happens on a programming error.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
