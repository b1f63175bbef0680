package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/billsync/billsync"
)

const maxAdminBody = 1 << 20

// AdminHandler serves the run-time controls. Paths are relative to
// AdminPath (a leading AdminPath is stripped, so it works mounted there or
// behind http.StripPrefix):
//
//	GET    /        the Config as JSON: {"rules":[{"name","rate","status",…}],"seed":n}
//	PUT    /        replace the Config: that JSON, or with Content-Type
//	                text/plain a spec in Parse's grammar; 400 names the bad part
//	DELETE /        remove every rule
//	GET    /counts  {"counts":{"rule":n,…},"total":n}
//	DELETE /counts  set the counters back to zero
//
// Errors are {"error":{"code","message"}}. It has no authentication: the
// emulators it fronts are test tools.
func (i *Injector) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, AdminPath)
		rest = strings.TrimSuffix(rest, "/")
		switch rest {
		case "":
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				adminJSON(w, http.StatusOK, i.Config())
			case http.MethodPut:
				cfg, err := decodeConfig(r)
				if err == nil {
					err = i.Apply(cfg)
				}
				if err != nil {
					adminError(w, err)
					return
				}
				adminJSON(w, http.StatusOK, i.Config())
			case http.MethodDelete:
				seed := i.Config().Seed
				if err := i.Apply(Config{Seed: seed}); err != nil {
					adminError(w, err)
					return
				}
				adminJSON(w, http.StatusOK, i.Config())
			default:
				notAllowed(w, "GET, HEAD, PUT, DELETE")
			}
		case "/counts":
			switch r.Method {
			case http.MethodGet, http.MethodHead:
				adminJSON(w, http.StatusOK, countsBody{Counts: i.Counts(), Total: i.Total()})
			case http.MethodDelete:
				i.ResetCounts()
				adminJSON(w, http.StatusOK, countsBody{Counts: i.Counts(), Total: i.Total()})
			default:
				notAllowed(w, "GET, HEAD, DELETE")
			}
		default:
			adminError(w, billsync.Errorf(billsync.ENOTFOUND, "no fault admin endpoint %s %s", r.Method, r.URL.Path))
		}
	})
}

type countsBody struct {
	Counts map[string]int64 `json:"counts"`
	Total  int64            `json:"total"`
}

func decodeConfig(r *http.Request) (Config, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return Config{}, billsync.Errorf(billsync.EINVALID, "cannot read body: %v", err)
	}
	if len(b) > maxAdminBody {
		return Config{}, billsync.Errorf(billsync.EINVALID, "body is larger than 1 MiB")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/plain" {
		return Parse(string(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, billsync.Errorf(billsync.EINVALID, "malformed fault config JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, billsync.Errorf(billsync.EINVALID, "malformed fault config JSON: trailing data")
	}
	return cfg, nil
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		adminError(w, billsync.Errorf(billsync.EINTERNAL, "encode answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch billsync.ErrorCode(err) {
	case billsync.EINVALID:
		status = http.StatusBadRequest
	case billsync.ENOTFOUND:
		status = http.StatusNotFound
	}
	writeAdminError(w, status, err)
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(map[string]body{"error": {billsync.ErrorCode(err), billsync.ErrorMessage(err)}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeAdminError(w, http.StatusMethodNotAllowed, billsync.Errorf(billsync.EINVALID, "method not allowed; use %s", allow))
}
