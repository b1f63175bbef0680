package stripeapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// KeyPrefix starts every Idempotency-Key billsync sends, so that the
// events its own writes cause can be told apart (the echo rule).
const KeyPrefix = "billsync-"

// maxAttempts is how often one request is tried before giving up.
const maxAttempts = 3

// maxResponse bounds a response body.
const maxResponse = 32 << 20

// waiter paces requests; *rate.Limiter is one.
type waiter interface {
	Wait(ctx context.Context) error
}

// Client is billsync's Stripe client. It is safe for concurrent use.
type Client struct {
	base       string
	key        string
	apiVersion string
	quotes     string // quotesDraft or quotesFinalized
	hc         *http.Client
	clock      func() time.Time
	pace       waiter
	// sleep waits between attempts; tests replace it to count instead.
	sleep func(ctx context.Context, d time.Duration) error
}

// form is a Stripe request body or query: keys use Stripe's bracket
// syntax ("metadata[region]", "enabled_events[]").
type form = url.Values

// newKey is a fresh idempotency key for one logical write.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// idempotencyKey is the header value for a write: the engine's key when
// it gave one, so a repeated change repeats the same write.
func idempotencyKey(key string) string {
	if key == "" {
		key = newKey()
	}
	if strings.HasPrefix(key, KeyPrefix) {
		return key
	}
	return KeyPrefix + key
}

// get reads path with query q into out.
func (c *Client) get(ctx context.Context, path string, q form, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.call(ctx, http.MethodGet, path, nil, "", out)
}

// post writes body to path with the idempotency key (already prefixed),
// the same key on every attempt.
func (c *Client) post(ctx context.Context, path string, body form, key string, out any) error {
	if body == nil {
		body = form{}
	}
	return c.call(ctx, http.MethodPost, path, body, key, out)
}

func (c *Client) del(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodDelete, path, nil, "", out)
}

// call sends one logical request: up to maxAttempts attempts, each paced,
// a POST always with the same Idempotency-Key so that Stripe applies it
// at most once however many attempts reach it.
func (c *Client) call(ctx context.Context, method, path string, body form, key string, out any) error {
	if method == http.MethodPost && key == "" {
		key = idempotencyKey("")
	}
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := c.pace.Wait(ctx); err != nil {
			return &billsync.RemoteError{System: billsync.SystemBilling, Message: method + " " + path + ": " + err.Error(), Transient: ctx.Err() == nil, Err: err}
		}
		raw, retryAfter, err := c.once(ctx, method, path, body, key)
		if err == nil {
			return decode(method, path, raw, out)
		}
		last = err
		var re *retryable
		if !errors.As(err, &re) || attempt == maxAttempts || ctx.Err() != nil {
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
	var re *retryable
	if errors.As(last, &re) {
		return re.err
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
func (c *Client) once(ctx context.Context, method, path string, body form, key string) ([]byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, billsync.Errorf(billsync.EINVALID, "stripe: %s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Stripe-Version", c.apiVersion)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		re := &billsync.RemoteError{System: billsync.SystemBilling, Message: method + " " + path + " failed", Transient: ctx.Err() == nil, Err: err}
		// A lost POST may have been applied; trying it again is safe only
		// because it carries the same idempotency key.
		if ctx.Err() == nil && (method != http.MethodPost || key != "") {
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
	should := resp.Header.Get("Stripe-Should-Retry")
	retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || should == "true"
	if should == "false" {
		retry = false
	}
	var out error = re
	if re.StatusCode == http.StatusForbidden {
		out = forbidden(re)
	}
	if retry {
		re.Transient = true
		return nil, retryAfter(resp.Header.Get("Retry-After")), &retryable{re}
	}
	return nil, 0, out
}

func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
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

// remoteError reads Stripe's error body ({"error": {"type", "code",
// "message", "param"}}) into a *billsync.RemoteError. A 404 is ENOTFOUND
// and a 401 EUNAUTHORIZED through the status; 429 is the rate limit.
func remoteError(method, path string, status int, raw []byte) *billsync.RemoteError {
	re := &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: status,
		Transient:   status >= 500 || status == http.StatusTooManyRequests,
		RateLimited: status == http.StatusTooManyRequests}
	var body struct {
		Error *struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
			Param   string `json:"param"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		re.Code, re.Message = body.Error.Code, body.Error.Message
		if re.Code == "" {
			re.Code = body.Error.Type
		}
		if body.Error.Param != "" {
			re.Fields = []string{body.Error.Param}
		}
	}
	if re.Message == "" {
		snippet := strings.TrimSpace(string(raw))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		if snippet == "" {
			snippet = http.StatusText(status)
		}
		re.Message = fmt.Sprintf("%s %s: %s", method, path, snippet)
	}
	return re
}

// forbidden is a 403 (a restricted key without the permission the call
// needs) reported as EUNAUTHORIZED, keeping Stripe's answer in the chain.
func forbidden(re *billsync.RemoteError) error {
	return &authError{app: billsync.Errorf(billsync.EUNAUTHORIZED, "stripe: the API key may not do this (%s); a restricted key needs the permissions listed by billsync doctor", re.Message), re: re}
}

type authError struct {
	app *billsync.Error
	re  *billsync.RemoteError
}

func (e *authError) Error() string   { return e.app.Error() }
func (e *authError) Unwrap() []error { return []error{e.app, e.re} }

// notFound is the ENOTFOUND of a record Stripe does not have (or keeps
// only as deleted).
func notFound(format string, args ...any) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusNotFound, Code: "resource_missing", Message: fmt.Sprintf(format, args...)}
}

// refusal is a write Stripe cannot take, whatever the retry.
func refusal(format string, args ...any) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusBadRequest, Code: "unsupported", Message: fmt.Sprintf(format, args...)}
}
