package m3ter

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// apiError is m3ter's error: the status and {"message": "..."}
// (PROVISIONAL body; the spec gives only the message field).
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

func notFound(what, id string) *apiError {
	return &apiError{status: http.StatusNotFound, message: fmt.Sprintf("%s not found with id %s", what, id)}
}

// staleVersion is the answer to a PUT whose version is not the current
// one. PROVISIONAL: m3ter's status for it is unpublished ("4XX").
func staleVersion(what string, got any, current int64) *apiError {
	return &apiError{status: http.StatusConflict, message: fmt.Sprintf(
		"%s version mismatch: the request has version %v, the current version is %d", what, got, current)}
}

func msgBody(msg string) obj { return obj{"message": msg} }

func writeError(w http.ResponseWriter, ae *apiError) { writeJSON(w, ae.status, msgBody(ae.message)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func newUUID() string { return uuid.NewString() }

// newSecret is an unguessable access token.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
