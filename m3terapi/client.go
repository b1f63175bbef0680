package m3terapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
)

// maxAttempts is how often one request is tried before giving up.
const maxAttempts = 3

// maxResponse bounds a response body.
const maxResponse = 32 << 20

// tokenMargin is how long before its expiry a token is replaced, so that
// a request never leaves with a token that dies on the way.
const tokenMargin = 5 * time.Minute

// waiter paces requests; *rate.Limiter is one.
type waiter interface {
	Wait(ctx context.Context) error
}

// Client is billsync's m3ter client. It is safe for concurrent use.
type Client struct {
	base          string
	org           string
	keyID, secret string
	balanceAmount string // amountTransaction or amountUnsupported
	hc            *http.Client
	clock         func() time.Time
	pace          waiter
	// sleep waits between attempts; tests replace it to count instead.
	sleep func(ctx context.Context, d time.Duration) error

	tokMu   sync.Mutex
	token   string
	expires time.Time

	// userMu guards serviceUser: billing.options.serviceUserId, or the id
	// users/me answered, learnt by Tenant (echo detection needs it).
	userMu      sync.RWMutex
	serviceUser string
	userFixed   bool // set from billing.options.serviceUserId: never replaced
	userProbed  atomic.Bool
}

// ServiceUser is the id billsync's own writes carry as lastModifiedBy,
// "" while it is not known yet.
func (c *Client) ServiceUser() string {
	c.userMu.RLock()
	defer c.userMu.RUnlock()
	return c.serviceUser
}

func (c *Client) learnServiceUser(id string) {
	c.userMu.Lock()
	defer c.userMu.Unlock()
	if !c.userFixed && id != "" {
		c.serviceUser = id
	}
}

// orgPath is a path under the organisation.
func (c *Client) orgPath(parts ...string) string {
	p := "/organizations/" + url.PathEscape(c.org)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// get reads path with query q into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.call(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	return c.call(ctx, http.MethodPost, path, in, out)
}

func (c *Client) put(ctx context.Context, path string, in, out any) error {
	return c.call(ctx, http.MethodPut, path, in, out)
}

func (c *Client) del(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodDelete, path, nil, out)
}

// call sends one logical request: up to maxAttempts attempts, each paced.
// A POST is tried again only after a 429, which m3ter did not apply: m3ter
// takes no idempotency key, so a POST lost in a 5xx or a dropped
// connection may have created its record, and repeating it blindly could
// create a second one. Such a failure is reported as transient instead;
// the engine's retry runs the create again, which first looks for the
// record the lost POST made (see findCreated).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return billsync.Errorf(billsync.EINVALID, "m3ter: encode %s %s: %v", method, path, err)
		}
		body = b
	}
	var last error
	refreshed := false
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := c.pace.Wait(ctx); err != nil {
			return &billsync.RemoteError{System: billsync.SystemBilling, Message: method + " " + path + ": " + err.Error(), Transient: ctx.Err() == nil, Err: err}
		}
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		raw, retryAfter, err := c.once(ctx, method, path, body, tok)
		if err == nil {
			return decode(method, path, raw, out)
		}
		last = err
		var re *billsync.RemoteError
		if errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized && !refreshed {
			// The token expired early or was revoked: get a new one and
			// try once more; a second 401 is the credentials' fault.
			refreshed = true
			c.dropToken(tok)
			attempt--
			continue
		}
		var rt *retryable
		if !errors.As(err, &rt) || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		if method == http.MethodPost && !rt.err.RateLimited {
			break
		}
		wait := backoff(attempt)
		if retryAfter > wait {
			wait = retryAfter
		}
		if err := c.sleep(ctx, wait); err != nil {
			break
		}
	}
	var rt *retryable
	if errors.As(last, &rt) {
		return rt.err
	}
	return last
}

// retryable marks a failed attempt worth another one; err is what to
// report when no attempt is left.
type retryable struct{ err *billsync.RemoteError }

func (r *retryable) Error() string { return r.err.Error() }

// backoff is the pause before attempt+1: 0.5 s, 1 s, 2 s …, at most 8 s.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << (attempt - 1)
	return min(d, 8*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// once is one attempt: the response body on 2xx, else an error, wrapped
// in *retryable when another attempt may succeed.
func (c *Client) once(ctx context.Context, method, path string, body []byte, tok string) ([]byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, billsync.Errorf(billsync.EINVALID, "m3ter: %s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		re := &billsync.RemoteError{System: billsync.SystemBilling, Message: method + " " + path + " failed", Transient: ctx.Err() == nil, Err: err}
		if ctx.Err() == nil {
			return nil, 0, &retryable{re}
		}
		return nil, 0, re
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(raw) > maxResponse {
		err = fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	if err != nil {
		re := &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: method + " " + path + ": reading the response failed", Transient: ctx.Err() == nil, Err: err}
		return nil, 0, &retryable{re}
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return raw, 0, nil
	}
	re := remoteError(method, path, resp.StatusCode, raw)
	if re.Transient {
		return nil, retryAfter(resp.Header.Get("Retry-After")), &retryable{re}
	}
	return nil, 0, re
}

// retryAfter reads Retry-After in seconds or as an HTTP date, capped at a
// minute so that one answer cannot stall a worker for long.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, time.Minute)
		}
	}
	return 0
}

func decode(method, path string, raw []byte, out any) error {
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusOK,
			Message: fmt.Sprintf("%s %s: malformed response: %v", method, path, err)}
	}
	return nil
}

// remoteError reads m3ter's error body ({"message": "…"}) into a
// *billsync.RemoteError: 404 is ENOTFOUND, 401 EUNAUTHORIZED, 403
// EFORBIDDEN through the status; 429 and 5xx are transient.
//
// PROVISIONAL: m3ter documents only "4XX" for a stale version. A 409 is
// the engine's version conflict as it is for the billing contract, and
// so is a 400 on a PUT whose message names the version: the engine then
// reads the record again and reconciles. Neither is ever retried here.
func remoteError(method, path string, status int, raw []byte) *billsync.RemoteError {
	re := &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: status,
		Transient:   status >= 500 || status == http.StatusTooManyRequests,
		RateLimited: status == http.StatusTooManyRequests}
	var body struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		re.Message = body.Message
	}
	if status == http.StatusBadRequest && method == http.MethodPut && strings.Contains(strings.ToLower(re.Message), "version") {
		re.StatusCode = http.StatusConflict
	}
	if re.StatusCode == http.StatusConflict {
		re.Code = "version_conflict"
	}
	if re.Message == "" {
		snippet := strings.TrimSpace(string(raw))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		if snippet == "" {
			snippet = http.StatusText(status)
		}
		re.Message = snippet
	}
	re.Message = method + " " + path + ": " + re.Message
	return re
}

// staleVersion is the conflict billsync reports itself when the record it
// is asked to write is no longer at the version the engine read: the
// same error m3ter answers a stale PUT with.
func staleVersion(kind, id string, have, asked int64) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusConflict, Code: "version_conflict",
		Message: fmt.Sprintf("m3ter %s %s is at version %d, not %d", kind, id, have, asked)}
}

func notFound(format string, args ...any) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

// refusal is a write m3ter cannot take, whatever the retry.
func refusal(format string, args ...any) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusBadRequest, Code: "unsupported", Message: fmt.Sprintf(format, args...)}
}

// tokenAnswer is the answer of POST /oauth/token.
type tokenAnswer struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	Scope       string      `json:"scope"`
}

// accessToken is a bearer token valid for a while yet: the cached one, or
// a new one from the client-credentials grant.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token != "" && c.clock().Before(c.expires) {
		return c.token, nil
	}
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := c.pace.Wait(ctx); err != nil {
			return "", &billsync.RemoteError{System: billsync.SystemBilling, Message: "POST /oauth/token: " + err.Error(), Transient: ctx.Err() == nil, Err: err}
		}
		tok, wait, err := c.fetchToken(ctx)
		if err == nil {
			return tok, nil
		}
		last = err
		var rt *retryable
		if !errors.As(err, &rt) || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		if err := c.sleep(ctx, max(wait, backoff(attempt))); err != nil {
			break
		}
	}
	var rt *retryable
	if errors.As(last, &rt) {
		return "", rt.err
	}
	return "", last
}

// fetchToken asks for a token (m3ter-common: HTTP Basic with the access
// key id and secret, a JSON body) and caches it; c.tokMu is held. Asking
// for a token twice is harmless, so every failure worth it is retried.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const path = "/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(`{"grant_type":"client_credentials"}`))
	if err != nil {
		return "", 0, billsync.Errorf(billsync.EINVALID, "m3ter: billing.url %q: %v", c.base, err)
	}
	req.SetBasicAuth(c.keyID, c.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		re := &billsync.RemoteError{System: billsync.SystemBilling, Message: "POST " + path + " failed", Transient: ctx.Err() == nil, Err: err}
		return "", 0, &retryable{re}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &retryable{&billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: "POST " + path + ": reading the response failed", Transient: true, Err: err}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := remoteError(http.MethodPost, path, resp.StatusCode, raw)
		switch {
		case re.Transient:
			return "", retryAfter(resp.Header.Get("Retry-After")), &retryable{re}
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest:
			return "", 0, &authError{app: billsync.Errorf(billsync.EUNAUTHORIZED,
				"m3ter refused billing.token (want \"<access key id>:<api secret>\" of a service user): %s", re.Message), re: re}
		}
		return "", 0, re
	}
	var ans tokenAnswer
	if err := decode(http.MethodPost, path, raw, &ans); err != nil {
		return "", 0, err
	}
	secs, _ := ans.ExpiresIn.Int64()
	if ans.AccessToken == "" || secs <= 0 {
		return "", 0, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode, Message: "POST /oauth/token answered no access_token or expires_in"}
	}
	life := time.Duration(secs) * time.Second
	margin := min(tokenMargin, life/10)
	c.token, c.expires = ans.AccessToken, c.clock().Add(life-margin)
	return c.token, 0, nil
}

// dropToken forgets tok when it is still the cached token (a concurrent
// request may have replaced it already).
func (c *Client) dropToken(tok string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// authError is a refused credential: EUNAUTHORIZED naming the setting,
// with m3ter's answer kept in the chain.
type authError struct {
	app *billsync.Error
	re  *billsync.RemoteError
}

func (e *authError) Error() string   { return e.app.Error() }
func (e *authError) Unwrap() []error { return []error{e.app, e.re} }

// page is one page of an m3ter list.
type page[T any] struct {
	Data      []T     `json:"data"`
	NextToken *string `json:"nextToken"`
}

func (p *page[T]) next() string {
	if p.NextToken == nil {
		return ""
	}
	return *p.NextToken
}

// pageQuery is the paging part of a list query; m3ter caps pageSize per
// list (100 for most, 200 for balance transactions).
func pageQuery(token string, size, most int) url.Values {
	q := url.Values{}
	if size <= 0 || size > most {
		size = most
	}
	q.Set("pageSize", strconv.Itoa(size))
	if token != "" {
		q.Set("nextToken", token)
	}
	return q
}
