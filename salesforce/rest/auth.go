package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/billsync/billsync"
)

// session is one logged-in session. Salesforce sends no expires_in, so a
// session lives until a call answers 401.
type session struct {
	instanceURL string
	token       string
	orgID       string
	userID      string
}

// The CometD subscriber (package salesforce/cometd) borrows its session through
// this interface.
var _ interface {
	Session(ctx context.Context) (instanceURL, accessToken string, err error)
	Invalidate(accessToken string)
} = (*Client)(nil)

// loginFlight is one login in progress; every caller that needs a session
// meanwhile waits for it instead of logging in again.
type loginFlight struct {
	done chan struct{}
	sess *session
	err  error
}

// jwtAssertionLife is how long a JWT bearer assertion is good for:
// Salesforce expects about three minutes (its JWT bearer flow docs).
const jwtAssertionLife = 3 * time.Minute

// Session returns the current session, logging in when there is none.
// Concurrent callers share one login. It implements the Session interface
// the CometD subscriber uses.
func (c *Client) Session(ctx context.Context) (instanceURL, accessToken string, err error) {
	s, err := c.session(ctx)
	if err != nil {
		return "", "", err
	}
	return s.instanceURL, s.token, nil
}

// Invalidate drops the session whose token is accessToken, so the next
// call logs in again. A stale token (one already replaced) is ignored, so
// several callers that saw the same 401 cause one login, not several.
func (c *Client) Invalidate(accessToken string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil && c.sess.token == accessToken {
		c.sess = nil
	}
}

// Identity is the integration user's id and the org's id, read from the
// token response's identity URL (…/id/<orgId>/<userId>).
func (c *Client) Identity(ctx context.Context) (userID, orgID string, err error) {
	s, err := c.session(ctx)
	if err != nil {
		return "", "", err
	}
	return s.userID, s.orgID, nil
}

func (c *Client) session(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce: %w", err)
	}
	c.mu.Lock()
	if s := c.sess; s != nil {
		c.mu.Unlock()
		return s, nil
	}
	f := c.flight
	if f == nil {
		f = &loginFlight{done: make(chan struct{})}
		c.flight = f
		// The login outlives the caller that started it: the others waiting
		// on it must not fail because the first one gave up.
		go c.runLogin(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.sess, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("salesforce login: %w", ctx.Err())
	}
}

func (c *Client) runLogin(ctx context.Context, f *loginFlight) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := c.login(ctx)
	c.mu.Lock()
	if err == nil {
		c.sess = s
	}
	c.flight = nil
	f.sess, f.err = s, err
	c.mu.Unlock()
	close(f.done)
	if err != nil {
		c.log.Warn("salesforce login failed", "grant", c.grant, "login_url", c.loginURL.String(), "err", err)
		return
	}
	c.log.Info("salesforce login", "grant", c.grant, "instance_url", s.instanceURL, "org_id", s.orgID, "user_id", s.userID)
}

func (c *Client) tokenURL() string { return c.loginURL.String() + "/services/oauth2/token" }

// login runs the configured grant and reads the session out of the token
// response.
func (c *Client) login(ctx context.Context) (*session, error) {
	var (
		instanceURL, idURL, token string
		err                       error
	)
	switch c.grant {
	case GrantPassword, GrantClientCredentials:
		instanceURL, idURL, token, err = c.loginOAuth2(ctx)
	case GrantJWT:
		instanceURL, idURL, token, err = c.loginJWT(ctx)
	default:
		err = billsync.Errorf(billsync.EINVALID, "unknown grant %q", c.grant)
	}
	if err != nil {
		return nil, fmt.Errorf("salesforce login (%s grant): %w", c.grant, err)
	}
	iu, perr := url.Parse(instanceURL)
	if perr != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK,
			Message: fmt.Sprintf("token response has no usable instance_url (%q)", instanceURL)}
	}
	orgID, userID, ok := parseIdentityURL(idURL)
	if !ok {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK,
			Message: fmt.Sprintf("token response has no identity URL …/id/<org>/<user> (%q)", idURL)}
	}
	return &session{instanceURL: strings.TrimRight(instanceURL, "/"), token: token, orgID: orgID, userID: userID}, nil
}

// loginOAuth2 runs the password or client credentials grant through
// x/oauth2. Credentials go in the form body, as Salesforce's own examples
// and recorded clients send them.
func (c *Client) loginOAuth2(ctx context.Context) (instanceURL, idURL, token string, err error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	var tok *oauth2.Token
	if c.grant == GrantPassword {
		cfg := oauth2.Config{
			ClientID:     c.clientID,
			ClientSecret: c.secret,
			Endpoint:     oauth2.Endpoint{TokenURL: c.tokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		}
		tok, err = cfg.PasswordCredentialsToken(ctx, c.username, c.password)
	} else {
		cfg := clientcredentials.Config{
			ClientID:     c.clientID,
			ClientSecret: c.secret,
			TokenURL:     c.tokenURL(),
			AuthStyle:    oauth2.AuthStyleInParams,
		}
		tok, err = cfg.Token(ctx)
	}
	if err != nil {
		return "", "", "", oauthError(ctx, err)
	}
	instanceURL, _ = tok.Extra("instance_url").(string)
	idURL, _ = tok.Extra("id").(string)
	return instanceURL, idURL, tok.AccessToken, nil
}

// loginJWT runs the JWT bearer grant (RFC 7523) with an RS256 assertion:
// iss is the consumer key, sub the username, aud the login host.
func (c *Client) loginJWT(ctx context.Context) (instanceURL, idURL, token string, err error) {
	now := c.now()
	claims := jwt.RegisteredClaims{
		Issuer:    c.clientID,
		Subject:   c.username,
		Audience:  jwt.ClaimStrings{c.loginURL.Scheme + "://" + c.loginURL.Host},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtAssertionLife)),
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.key)
	if err != nil {
		return "", "", "", billsync.Errorf(billsync.EINTERNAL, "signing the JWT assertion: %v", err)
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", "", billsync.Errorf(billsync.EINVALID, "token request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", "", "", transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", "", transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", "", decodeError(resp.StatusCode, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
		ID          string `json:"id"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", "", "", &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: resp.StatusCode,
			Message: "token response without an access_token: " + snippet(body)}
	}
	return tr.InstanceURL, tr.ID, tr.AccessToken, nil
}

// oauthError turns an x/oauth2 failure into a RemoteError carrying the
// OAuth error code (invalid_grant, invalid_client_id…).
func oauthError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode == "" {
			return decodeError(status, re.Body)
		}
		return &billsync.RemoteError{
			System:     billsync.SystemSalesforce,
			StatusCode: status,
			Code:       re.ErrorCode,
			Message:    re.ErrorDescription,
			Transient:  transientStatus(status),
		}
	}
	return transportError(ctx, err)
}

// parseIdentityURL reads org and user ids from
// https://login.salesforce.com/id/00D…/005….
func parseIdentityURL(s string) (orgID, userID string, ok bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "id" && parts[i+1] != "" && parts[i+2] != "" {
			return parts[i+1], parts[i+2], true
		}
	}
	return "", "", false
}
