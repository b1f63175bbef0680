package httpserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/billsync/billsync"
)

// scope is what a token may do. A route's scope follows from its method,
// never from a list kept by hand: GET changes nothing and needs a read
// token, every other method needs an admin token. So a write route added
// later cannot be opened to read tokens by forgetting to mark it.
type scope int

const (
	scopeRead  scope = iota + 1 // logs, settings, conflicts, dead letters, queue, resync reports
	scopeAdmin                  // everything, changes included
)

func (s scope) String() string {
	if s == scopeAdmin {
		return "admin"
	}
	return "read"
}

// scopeOf is the scope a method needs.
func scopeOf(method string) scope {
	if method == http.MethodGet || method == http.MethodHead {
		return scopeRead
	}
	return scopeAdmin
}

// adminToken keeps only a digest of the token: comparing fixed-length
// digests in constant time hides both the token's content and its length.
type adminToken struct {
	digest [sha256.Size]byte
	name   string
	scope  scope
}

// apiRoute is one admin API route as registered; the server keeps the
// list, so its tests walk every route, including ones added later.
type apiRoute struct {
	method, pattern string // method "" for the catch-all
	scope           scope
}

// addTokens checks one map of tokens (token → name) and adds it with its
// scope.
func (s *Server) addTokens(tokens map[string]string, sc scope) error {
	for tok, name := range tokens {
		if strings.TrimSpace(tok) == "" {
			return billsync.Errorf(billsync.EINVALID, "httpserver: %s token %q is empty", sc, name)
		}
		if name == "" {
			return billsync.Errorf(billsync.EINVALID, "httpserver: a %s token has no name (the audit trail needs one)", sc)
		}
		d := sha256.Sum256([]byte(tok))
		for _, t := range s.tokens {
			if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
				return billsync.Errorf(billsync.EINVALID, "httpserver: tokens %q and %q are the same token", t.name, name)
			}
		}
		s.tokens = append(s.tokens, adminToken{digest: d, name: name, scope: sc})
	}
	return nil
}

// handle registers an admin API route; the method in pattern decides the
// scope it needs.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	method, _, ok := strings.Cut(pattern, " ")
	sc := scopeRead
	if ok {
		sc = scopeOf(method)
	} else {
		method = ""
	}
	s.apiRoutes = append(s.apiRoutes, apiRoute{method: method, pattern: pattern, scope: sc})
	mux.Handle(pattern, s.requireToken(sc, h))
}

type actorKey struct{}

// actorFrom returns the name of the token that authorised r.
func actorFrom(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}

// requireToken admits requests carrying a configured token of scope need
// or wider, and puts the token's name in the context for the audit trail.
// A valid token of too narrow a scope is 403, not 401: asking again with
// the same token cannot help.
func (s *Server) requireToken(need scope, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := s.authenticate(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, r, billsync.Errorf(billsync.EUNAUTHORIZED, "a valid admin token is required (Authorization: Bearer <token>)"))
			return
		}
		if tok.scope < need {
			s.writeError(w, r, billsync.Errorf(billsync.EFORBIDDEN,
				"token %q is a read token: %s %s changes something and needs an admin token", tok.name, r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.name)))
	})
}

func (s *Server) authenticate(header string) (adminToken, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return adminToken{}, false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return adminToken{}, false
	}
	d := sha256.Sum256([]byte(tok))
	// Compare against every token without stopping early, so the time
	// taken does not tell which token, or whether any, came close.
	var match adminToken
	found := 0
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			match = t
			found = 1
		}
	}
	return match, found == 1
}
