package httpserver

import (
	"net/http"
	"net/http/pprof"
)

// profiling serves the runtime profiles of net/http/pprof under
// /debug/pprof/, behind an admin token whatever the method.
func (s *Server) serveProfiles(mux *http.ServeMux) {
	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireToken(scopeAdmin, h)) }
	admin("/debug/pprof/", pprof.Index) // the index and every named profile (heap, goroutine, …)
	admin("/debug/pprof/cmdline", pprof.Cmdline)
	admin("/debug/pprof/profile", pprof.Profile)
	admin("/debug/pprof/symbol", pprof.Symbol)
	admin("/debug/pprof/trace", pprof.Trace)
}
