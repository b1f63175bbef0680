package rest

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

	"github.com/billsync/billsync"
)

// maxBody bounds a response read into memory; a 2,000-row query page or
// a large describe stays far below it.
const maxBody = 64 << 20

// Do sends one REST call and decodes the JSON answer into out (nil to
// discard it). path is relative to the versioned data URL ("/sobjects/…",
// "/query?q=…") unless it starts with "/services/", in which case it is
// taken as is. body is sent as JSON ([]byte and json.RawMessage verbatim);
// billsync.Money and json.Number values inside maps, SObjects and slices
// are written as JSON numbers. It follows the client's auth rules (one new
// login and one retry after a 401) and error rules (*billsync.RemoteError).
func (c *Client) Do(ctx context.Context, method, path string, body any, out any) error {
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	case json.RawMessage:
		payload = b
	default:
		var err error
		if payload, err = encodeJSON(wireValue(b)); err != nil {
			return billsync.Errorf(billsync.EINVALID, "salesforce %s %s: encoding the body: %v", method, trimQuery(path), err)
		}
	}
	_, err := c.call(ctx, method, path, payload, out)
	return err
}

// call runs one REST exchange, with a second try after a 401 with a new
// session. It returns the HTTP status of the answer it decoded.
func (c *Client) call(ctx context.Context, method, path string, payload []byte, out any) (int, error) {
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx)
		if err != nil {
			return 0, err
		}
		status, err := c.send(ctx, s, method, path, payload, out)
		var re *billsync.RemoteError
		if attempt == 0 && errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized {
			// Salesforce tokens carry no expiry; a 401 is how we learn the
			// session ended. Log in again once; a second 401 is returned.
			c.log.Info("salesforce session expired; logging in again", "method", method, "path", trimQuery(path), "code", re.Code)
			c.Invalidate(s.token)
			continue
		}
		return status, err
	}
}

func (c *Client) send(ctx context.Context, s *session, method, path string, payload []byte, out any) (int, error) {
	target, err := c.resolve(s, path)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, billsync.Errorf(billsync.EINVALID, "salesforce %s %s: %v", method, trimQuery(path), err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("salesforce %s %s: %w", method, trimQuery(path), transportError(ctx, err))
	}
	defer resp.Body.Close()
	c.noteLimits(resp.Header)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("salesforce %s %s: reading the answer: %w", method, trimQuery(path), transportError(ctx, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := decodeError(resp.StatusCode, data)
		c.log.Debug("salesforce call failed", "method", method, "path", trimQuery(path), "status", resp.StatusCode, "code", re.Code)
		return resp.StatusCode, fmt.Errorf("salesforce %s %s: %w", method, trimQuery(path), re)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := decodeJSON(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("salesforce %s %s: %w", method, trimQuery(path), &billsync.RemoteError{
				System: billsync.SystemSalesforce, StatusCode: resp.StatusCode,
				Message: fmt.Sprintf("unreadable answer (%v): %s", err, snippet(data)),
			})
		}
	}
	return resp.StatusCode, nil
}

// resolve makes the request URL. Absolute URLs are accepted only on the
// instance's own host, so the bearer token never travels elsewhere.
func (c *Client) resolve(s *session, path string) (string, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		u, err := url.Parse(path)
		iu, _ := url.Parse(s.instanceURL)
		if err != nil || iu == nil || u.Host != iu.Host {
			return "", billsync.Errorf(billsync.EINVALID, "salesforce: refusing to send the session to %q (instance is %s)", path, s.instanceURL)
		}
		return path, nil
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !strings.HasPrefix(path, "/services/") {
		path = c.dataPath() + path
	}
	return s.instanceURL + path, nil
}

func (c *Client) dataPath() string { return "/services/data/v" + c.apiVersion }

// restError is one entry of Salesforce's REST error array.
type restError struct {
	Message    string   `json:"message"`
	ErrorCode  string   `json:"errorCode"`
	StatusCode string   `json:"statusCode"`
	Fields     []string `json:"fields"`
}

// decodeError reads any of Salesforce's error shapes: the REST array
// [{"message","errorCode","fields"}], a lone such object (some composite
// failures), the OAuth {"error","error_description"}, the 300 answer of an
// ambiguous external id (an array of record URLs), or anything else
// (HTML from a proxy) kept as a snippet.
func decodeError(status int, body []byte) *billsync.RemoteError {
	re := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: status}
	trimmed := bytes.TrimSpace(body)
	var list []restError
	var one restError
	var oauth struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	var urls []string
	switch {
	case status == http.StatusMultipleChoices && json.Unmarshal(trimmed, &urls) == nil:
		re.Code = "MULTIPLE_CHOICES"
		re.Message = "the external id matches several records: " + strings.Join(urls, ", ")
	case json.Unmarshal(trimmed, &list) == nil && len(list) > 0:
		re.Code, re.Message, re.Fields = list[0].code(), list[0].Message, list[0].Fields
		for _, e := range list[1:] {
			re.Message += "; " + e.code() + ": " + e.Message
		}
	case json.Unmarshal(trimmed, &one) == nil && one.code() != "":
		re.Code, re.Message, re.Fields = one.code(), one.Message, one.Fields
	case json.Unmarshal(trimmed, &oauth) == nil && oauth.Error != "":
		re.Code, re.Message = oauth.Error, oauth.ErrorDescription
	default:
		re.Message = http.StatusText(status)
		if len(trimmed) > 0 {
			re.Message += ": " + snippet(trimmed)
		}
	}
	re.Transient = transientStatus(status) || TransientCode(re.Code)
	re.RateLimited = RateLimitedCode(re.Code)
	return re
}

// TransientCode reports whether a Salesforce error code names a passing
// state worth retrying (H3): a locked row, a spent allowance, an org
// briefly unavailable, a query or request that ran out of time.
func TransientCode(code string) bool {
	switch code {
	case "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "API_CURRENTLY_DISABLED",
		"QUERY_TIMEOUT", "REQUEST_RUNNING_TOO_LONG":
		return true
	}
	return false
}

// RateLimitedCode reports whether a Salesforce error code means the org's
// API allowance is spent (H3): the engine then pauses every call rather
// than spend the record's attempts.
func RateLimitedCode(code string) bool { return code == "REQUEST_LIMIT_EXCEEDED" }

// classify sets each per-record error's Transient and RateLimited from its
// code, which the wire does not carry, so SaveResult.Err reports them.
func classify(results []billsync.SaveResult) {
	for i := range results {
		classifyOne(&results[i])
	}
}

func classifyOne(r *billsync.SaveResult) {
	for j := range r.Errors {
		fe := &r.Errors[j]
		fe.Transient, fe.RateLimited = TransientCode(fe.StatusCode), RateLimitedCode(fe.StatusCode)
	}
}

func (e restError) code() string {
	if e.ErrorCode != "" {
		return e.ErrorCode
	}
	return e.StatusCode
}

// transientStatus: 5xx and 429 are worth retrying. Salesforce answers
// REQUEST_LIMIT_EXCEEDED with 403, which the code check catches.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests
}

// transportError classifies a failure to get an answer at all: always
// transient, except when the caller's own context ended, which is the
// caller's decision rather than Salesforce's state.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err
	}
	msg := "no answer"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "timed out"
	}
	return &billsync.RemoteError{System: billsync.SystemSalesforce, Message: msg, Transient: true, Err: err}
}

// parseLimitInfo reads "api-usage=133/15000", possibly followed by
// ", per-app-api-usage=…" on newer orgs.
func parseLimitInfo(values []string) (used, max int, ok bool) {
	for _, v := range values {
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			part = strings.TrimSpace(part)
			rest, found := strings.CutPrefix(part, "api-usage=")
			if !found {
				continue
			}
			a, b, found := strings.Cut(rest, "/")
			if !found {
				continue
			}
			u, err1 := strconv.Atoi(strings.TrimSpace(a))
			m, err2 := strconv.Atoi(strings.TrimSpace(b))
			if err1 != nil || err2 != nil || u < 0 || m < 0 {
				continue
			}
			return u, m, true
		}
	}
	return 0, 0, false
}

func decodeJSON(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(out)
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// wireValue rewrites a value for Salesforce: money becomes a JSON number
// written from its decimal digits (billsync.Money marshals as a string,
// which is right for the billing side only).
func wireValue(v any) any {
	switch x := v.(type) {
	case billsync.Money:
		return x.NumberLiteral()
	case *billsync.Money:
		if x == nil {
			return nil
		}
		return x.NumberLiteral()
	case billsync.SObject:
		return wireMap(x)
	case billsync.Entity:
		return wireMap(x)
	case map[string]any:
		return wireMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wireValue(e)
		}
		return out
	case []billsync.SObject:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wireMap(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wireMap(e)
		}
		return out
	}
	return v
}

func wireMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = wireValue(v)
	}
	return out
}

func snippet(b []byte) string {
	const max = 300
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func trimQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}
