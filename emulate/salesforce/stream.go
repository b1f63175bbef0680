package salesforce

import (
	"errors"
	"net/http"
	"strings"

	"github.com/billsync/billsync/emulate/salesforce/streaming"
)

// streamingHandler mounts the CometD server; it accepts the same sessions
// as the REST API.
func (e *Emulator) streamingHandler() http.Handler {
	opts := e.opts.Streaming
	if opts.Clock == nil {
		opts.Clock = e.clock
	}
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	srv := streaming.NewServer(e.bus, func(r *http.Request) (string, error) {
		u := e.authenticate(r)
		if u == nil {
			return "", errors.New("no session for the request's token")
		}
		return u.ID, nil
	}, opts)
	e.stream = srv
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.calls["cometd"]++
		e.mu.Unlock()
		srv.ServeHTTP(w, r)
	})
}

// Undelete restores a record from the recycle bin as the named user, with
// the master-detail children its delete took along, and runs the trigger
// rule (UNDELETE). The REST API has no undelete call; tests use this.
func (e *Emulator) Undelete(id, username string) error {
	n, ok := normalizeID(id)
	if !ok {
		return &apiError{Status: 400, Code: "MALFORMED_ID", Message: "malformed id " + id}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[strings.ToLower(username)]
	if u == nil {
		return &apiError{Status: 400, Code: "INVALID_USER", Message: "no user " + username}
	}
	t := e.beginLocked(u)
	if err := t.undelete(n); err != nil {
		t.rollback()
		return err
	}
	t.commit()
	return nil
}
