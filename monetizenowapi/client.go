package monetizenowapi

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
	"time"

	"github.com/billsync/billsync"
)

// maxAttempts bounds the tries of one read (billsync only reads, so every
// transient failure may be retried).
const maxAttempts = 3

// maxResponse bounds one answer: a page of 100 quotes with their items.
const maxResponse = 32 << 20

// waiter paces requests (a rate.Limiter).
type waiter interface {
	Wait(ctx context.Context) error
}

// Client is MonetizeNow's API as billsync needs it: quotes read, and the
// accounts they belong to.
type Client struct {
	base  string
	key   string
	hc    *http.Client
	clock func() time.Time
	pace  waiter
	sleep func(ctx context.Context, d time.Duration) error
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var last error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := c.pace.Wait(ctx); err != nil {
			return &billsync.RemoteError{System: billsync.SystemBilling, Message: "GET " + path + ": " + err.Error(), Transient: ctx.Err() == nil, Err: err}
		}
		raw, wait, err := c.once(ctx, path)
		if err == nil {
			return decode(path, raw, out)
		}
		last = err
		var re *billsync.RemoteError
		if !errors.As(err, &re) || !re.Transient || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		if err := c.sleep(ctx, max(wait, backoff(attempt))); err != nil {
			break
		}
	}
	return last
}

func backoff(attempt int) time.Duration {
	return min(500*time.Millisecond<<(attempt-1), 8*time.Second)
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

// once makes one request; the key goes in x-api-key and never in a
// message.
func (c *Client) once(ctx context.Context, path string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, billsync.Errorf(billsync.EINVALID, "monetizenow: GET %s: %v", path, err)
	}
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, &billsync.RemoteError{System: billsync.SystemBilling, Message: "GET " + path + " failed", Transient: ctx.Err() == nil, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(raw) > maxResponse {
		err = fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	if err != nil {
		return nil, 0, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: "GET " + path + ": reading the response failed", Transient: ctx.Err() == nil, Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return raw, 0, nil
	}
	return nil, retryAfter(resp.Header.Get("Retry-After")), remoteError(path, resp.StatusCode, raw)
}

func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return 0
}

func decode(path string, raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // money stays exact
	if err := dec.Decode(out); err != nil {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusOK,
			Message: fmt.Sprintf("GET %s: malformed response: %v", path, err)}
	}
	return nil
}

// errorBody is what MonetizeNow answers a failed call with: message,
// error.details and subErrors in its API; {operation, error:{errorCode,
// details}} in its contract API. Whatever is there is kept.
type errorBody struct {
	Message string `json:"message"`
	Error   *struct {
		ErrorCode string `json:"errorCode"`
		Details   string `json:"details"`
	} `json:"error"`
	SubErrors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"subErrors"`
}

func remoteError(path string, status int, raw []byte) *billsync.RemoteError {
	re := &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: status,
		Transient: status >= 500 || status == http.StatusTooManyRequests, RateLimited: status == http.StatusTooManyRequests}
	var b errorBody
	var parts []string
	if json.Unmarshal(raw, &b) == nil {
		if b.Message != "" {
			parts = append(parts, b.Message)
		}
		if b.Error != nil {
			re.Code = b.Error.ErrorCode
			if b.Error.Details != "" && b.Error.Details != b.Message {
				parts = append(parts, b.Error.Details)
			}
		}
		for _, s := range b.SubErrors {
			parts = append(parts, s.Field+": "+s.Message)
		}
	}
	if len(parts) == 0 {
		snippet := strings.TrimSpace(string(raw))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		if snippet == "" {
			snippet = http.StatusText(status)
		}
		parts = append(parts, snippet)
	}
	re.Message = "GET " + path + ": " + strings.Join(parts, "; ")
	return re
}

// refusal is what billsync answers for a change MonetizeNow will never
// take from it: the engine logs it unsupported and does not retry.
func refusal(format string, args ...any) *billsync.RemoteError {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusBadRequest, Code: "unsupported", Message: fmt.Sprintf(format, args...)}
}

// page is one page of a list: content and the page count.
type page[T any] struct {
	Content       []T         `json:"content"`
	TotalPages    json.Number `json:"totalPages"`
	TotalElements json.Number `json:"totalElements"`
}

// pageQuery asks for page n (0-based) of size limit (1..100).
func pageQuery(n, limit int) url.Values {
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	return url.Values{"currentPage": {strconv.Itoa(n)}, "pageSize": {strconv.Itoa(limit)}}
}

// next is the cursor after page n: "" on the last page.
func (p *page[T]) next(n int) string {
	total, err := strconv.Atoi(string(p.TotalPages))
	if err != nil || n+1 >= total || len(p.Content) == 0 {
		return ""
	}
	return strconv.Itoa(n + 1)
}

// pageOf reads a cursor: a page number, "" for the first.
func pageOf(cursor string) (int, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(cursor)
	if err != nil || n < 0 {
		return 0, billsync.Errorf(billsync.EINVALID, "monetizenow: cursor %q is not a page number", cursor)
	}
	return n, nil
}
