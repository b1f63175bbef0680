package salesforce

import (
	"io"
	"net/http"
	"strings"
)

// The versions list, the resources map, limits and the identity URLs:
// the REST API's answers about itself and the session's user.

// ---------------------------------------------------------------- versions

func (e *Emulator) handleVersions(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.calls["versions"]++
	e.mu.Unlock()
	out := make([]map[string]string, 0, len(versions))
	for _, v := range versions {
		out = append(out, map[string]string{"label": releaseLabel(v), "url": "/services/data/v" + v, "version": v})
	}
	writeJSON(w, 200, out)
}

func (e *Emulator) handleResources(c *call) {
	b := c.base()
	writeJSON(c.w, 200, map[string]string{
		"sobjects": b + "/sobjects", "query": b + "/query", "queryAll": b + "/queryAll",
		"composite": b + "/composite", "limits": b + "/limits", "identity": e.identityURL(c.r, c.user.ID),
	})
}

func (e *Emulator) handleLimits(c *call) {
	e.mu.Lock()
	used, limit := e.apiUsage, e.opts.DailyAPILimit
	e.mu.Unlock()
	writeJSON(c.w, 200, map[string]any{
		"DailyApiRequests": map[string]int{"Max": limit, "Remaining": max(limit-used, 0)},
	})
}

func (e *Emulator) baseURLFor(r *http.Request) string {
	e.mu.Lock()
	b := e.baseURL
	e.mu.Unlock()
	if b != "" {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (e *Emulator) identityURL(r *http.Request, userID string) string {
	return e.baseURLFor(r) + "/id/" + e.OrgID() + "/" + userID
}

// handleIdentity answers the identity URL the token response names.
func (e *Emulator) handleIdentity(w http.ResponseWriter, r *http.Request) {
	u := e.authenticate(r)
	e.mu.Lock()
	e.calls["identity"]++
	e.mu.Unlock()
	if u == nil || r.PathValue("user") != u.ID || r.PathValue("org") != e.OrgID() {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, "Bad_OAuth_Token")
		return
	}
	base := e.baseURLFor(r)
	writeJSON(w, 200, map[string]any{
		"id": e.identityURL(r, u.ID), "asserted_user": true, "user_id": u.ID, "organization_id": e.OrgID(),
		"username": u.Username, "nick_name": strings.Split(u.Username, "@")[0], "display_name": u.Name, "email": u.Email,
		"active": true, "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
		"urls": map[string]string{
			"rest":     base + "/services/data/v{version}/",
			"sobjects": base + "/services/data/v{version}/sobjects/",
			"query":    base + "/services/data/v{version}/query/",
		},
	})
}

// handleUserInfo answers the OpenID Connect userinfo endpoint.
func (e *Emulator) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	u := e.authenticate(r)
	e.mu.Lock()
	e.calls["identity"]++
	e.mu.Unlock()
	if u == nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, "Bad_OAuth_Token")
		return
	}
	writeJSON(w, 200, map[string]any{
		"sub": e.identityURL(r, u.ID), "user_id": u.ID, "organization_id": e.OrgID(),
		"preferred_username": u.Username, "name": u.Name, "email": u.Email, "email_verified": true,
		"active": true, "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
	})
}
