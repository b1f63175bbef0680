package salesforce

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billsync/billsync"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

func parseRSAPublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	k, err := jwt.ParseRSAPublicKeyFromPEM(pemBytes)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce emulator: JWT public key: %v", err)
	}
	return k, nil
}

type oauthError struct {
	status      int
	code, descr string
}

func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.calls["oauth"]++
	e.mu.Unlock()
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, oauthError{400, "invalid_request", "malformed request body"})
		return
	}
	var u *userRec
	var oerr *oauthError
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "password":
		u, oerr = e.passwordGrant(r)
	case "client_credentials":
		u, oerr = e.clientCredentialsGrant(r)
	case jwtBearerGrant:
		u, oerr = e.jwtGrant(r)
	case "":
		oerr = &oauthError{400, "unsupported_grant_type", "grant type not supported"}
	default:
		oerr = &oauthError{400, "unsupported_grant_type", "grant type not supported"}
	}
	if oerr != nil {
		writeOAuthError(w, *oerr)
		return
	}
	e.mu.Lock()
	tok := e.newTokenLocked(u.ID)
	e.journalLocked()
	e.mu.Unlock()
	base := e.baseURLFor(r)
	id := base + "/id/" + e.OrgID() + "/" + u.ID
	issued := strconv.FormatInt(e.clock().UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(e.opts.ClientSecret))
	mac.Write([]byte(id + issued))
	writeJSON(w, 200, map[string]string{
		"access_token": tok,
		"instance_url": base,
		"id":           id,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
	})
}

func writeOAuthError(w http.ResponseWriter, e oauthError) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.descr})
}

// checkClient verifies the connected app's credentials, from the form or
// HTTP Basic authentication. needSecret is false for the JWT grant.
func (e *Emulator) checkClient(r *http.Request, needSecret bool) *oauthError {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	if id != e.opts.ClientID {
		return &oauthError{400, "invalid_client_id", "client identifier invalid"}
	}
	if needSecret && subtle.ConstantTimeCompare([]byte(secret), []byte(e.opts.ClientSecret)) != 1 {
		return &oauthError{400, "invalid_client", "invalid client credentials"}
	}
	return nil
}

func (e *Emulator) passwordGrant(r *http.Request) (*userRec, *oauthError) {
	if err := e.checkClient(r, true); err != nil {
		return nil, err
	}
	e.mu.Lock()
	u := e.users[strings.ToLower(r.PostForm.Get("username"))]
	e.mu.Unlock()
	if u == nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(u.Password)) != 1 {
		return nil, &oauthError{400, "invalid_grant", "authentication failure"}
	}
	return u, nil
}

// clientCredentialsGrant runs as the connected app's "run as" user: the
// integration user.
func (e *Emulator) clientCredentialsGrant(r *http.Request) (*userRec, *oauthError) {
	if err := e.checkClient(r, true); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var best *userRec
	for _, u := range e.users {
		if u.integration && (best == nil || u.ID < best.ID) {
			best = u
		}
	}
	if best == nil {
		return nil, &oauthError{400, "invalid_grant", "no client credentials user enabled"}
	}
	return best, nil
}

func (e *Emulator) jwtGrant(r *http.Request) (*userRec, *oauthError) {
	if e.jwtKey == nil {
		return nil, &oauthError{400, "unsupported_grant_type", "grant type not supported"}
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &claims, func(*jwt.Token) (any, error) { return e.jwtKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.clock), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &oauthError{400, "invalid_grant", "expired access/refresh token"}
	case err != nil:
		return nil, &oauthError{400, "invalid_grant", "invalid assertion"}
	}
	if claims.Issuer != e.opts.ClientID {
		return nil, &oauthError{400, "invalid_client_id", "client identifier invalid"}
	}
	if !e.audienceOK(r, claims.Audience) {
		return nil, &oauthError{400, "invalid_grant", "audience is invalid"}
	}
	e.mu.Lock()
	u := e.users[strings.ToLower(claims.Subject)]
	e.mu.Unlock()
	if u == nil {
		return nil, &oauthError{400, "invalid_grant", "user hasn't approved this consumer"}
	}
	return u, nil
}

// audienceOK accepts the login host the client talks to (this emulator's
// address) and the production and sandbox login hosts.
func (e *Emulator) audienceOK(r *http.Request, aud jwt.ClaimStrings) bool {
	want := map[string]bool{
		hostOf(e.baseURLFor(r)): true, "login.salesforce.com": true, "test.salesforce.com": true, r.Host: true,
	}
	for _, a := range aud {
		if want[hostOf(a)] {
			return true
		}
	}
	return false
}

func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimRight(s, "/")
}

// newTokenLocked issues a session id shaped like a real one: the org id,
// "!", and an opaque part.
func (e *Emulator) newTokenLocked(userID string) string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	tok := e.orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(b[:])
	e.sessions[tok] = userID
	if e.journal != nil {
		if e.unsaved.sessions == nil {
			e.unsaved.sessions = map[string]string{}
		}
		e.unsaved.sessions[tok] = userID
	}
	return tok
}
