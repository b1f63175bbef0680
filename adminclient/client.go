package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// defaultTimeout bounds a call when the caller brings no http.Client.
const defaultTimeout = 30 * time.Second

// maxResponse bounds how much of an answer is read; a log page of 1000
// entries is well under it.
const maxResponse = 32 << 20

// Client talks to one billsync server.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	err   error // a bad baseURL, reported by every call
	// TokenHint, when set, replaces the server's explanation of a refused
	// token (which speaks of HTTP headers) with the caller's: a CLI names
	// its flag and environment variable.
	TokenHint string
}

// New returns a client for the server at baseURL (e.g.
// "http://127.0.0.1:8080"). hc nil uses a client with a 30 s timeout.
func New(baseURL, token string, hc *http.Client) *Client {
	c := &Client{token: token, hc: hc}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultTimeout}
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		c.err = billsync.Errorf(billsync.EINVALID, "admin API address %q: %v", baseURL, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		c.err = billsync.Errorf(billsync.EINVALID, "admin API address %q: want http(s)://host[:port]", baseURL)
	}
	c.base = u
	return c
}

// Settings returns every setting with defaults filled in; a setting never
// changed has UpdatedBy "default" and a zero UpdatedAt.
func (c *Client) Settings(ctx context.Context) ([]billsync.Setting, error) {
	var out struct {
		Settings []wireSetting `json:"settings"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/settings", nil, nil, &out); err != nil {
		return nil, err
	}
	settings := make([]billsync.Setting, len(out.Settings))
	for i, s := range out.Settings {
		settings[i] = s.setting()
	}
	return settings, nil
}

// Setting returns one setting; ENOTFOUND for an unknown key.
func (c *Client) Setting(ctx context.Context, key string) (billsync.Setting, error) {
	if err := checkKey(key); err != nil {
		return billsync.Setting{}, err
	}
	var out wireSetting
	if err := c.do(ctx, http.MethodGet, "/api/v1/settings/"+url.PathEscape(key), nil, nil, &out); err != nil {
		return billsync.Setting{}, err
	}
	return out.setting(), nil
}

// SetSetting changes a setting; the server validates the value (EINVALID)
// and audits the change under this client's token name.
func (c *Client) SetSetting(ctx context.Context, key string, value json.RawMessage) (billsync.Setting, error) {
	if err := checkKey(key); err != nil {
		return billsync.Setting{}, err
	}
	if !json.Valid(value) {
		return billsync.Setting{}, billsync.Errorf(billsync.EINVALID, "setting %s: value is not JSON", key)
	}
	body, err := json.Marshal(struct {
		Value json.RawMessage `json:"value"`
	}{value})
	if err != nil {
		return billsync.Setting{}, billsync.Errorf(billsync.EINVALID, "setting %s: %v", key, err)
	}
	var out wireSetting
	if err := c.do(ctx, http.MethodPut, "/api/v1/settings/"+url.PathEscape(key), nil, body, &out); err != nil {
		return billsync.Setting{}, err
	}
	return out.setting(), nil
}

// Audit returns the newest settings changes first.
func (c *Client) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Entries []billsync.AuditEntry `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/settings/audit", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Entries, nil
}

// Logs returns one page of sync-log entries, newest first, and the cursor
// of the next page ("" on the last).
func (c *Client) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Object != "" {
		q.Set("object", string(f.Object))
	}
	if f.Record != "" {
		q.Set("record", f.Record)
	}
	if f.Outcome != "" {
		q.Set("outcome", string(f.Outcome))
	}
	if f.Direction != "" {
		q.Set("direction", string(f.Direction))
	}
	if f.Reason != "" {
		q.Set("reason", f.Reason)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var out struct {
		Entries    []billsync.LogEntry `json:"entries"`
		NextCursor *string             `json:"nextCursor"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/logs", q, nil, &out); err != nil {
		return nil, "", err
	}
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Entries, next, nil
}

// DeadLetters lists dead letters, oldest first (at most 1000).
func (c *Client) DeadLetters(ctx context.Context) ([]billsync.DeadLetter, error) {
	q := url.Values{"limit": {"1000"}}
	var out struct {
		DeadLetters []billsync.DeadLetter `json:"deadLetters"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/deadletters", q, nil, &out); err != nil {
		return nil, err
	}
	return out.DeadLetters, nil
}

// RetryDeadLetter moves one dead letter back to the queue; ENOTFOUND if
// there is none with that id.
func (c *Client) RetryDeadLetter(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/api/v1/deadletters/"+strconv.FormatInt(id, 10)+"/retry", nil, nil, nil)
}

// DeadLetterSelection says which dead letters a retry or discard takes:
// every one (All), or exactly IDs. The server refuses an empty selection
// rather than take it to mean all.
type DeadLetterSelection struct {
	All bool    `json:"all,omitempty"`
	IDs []int64 `json:"ids,omitempty"`
}

// SelectDeadLetters reads a command line's selection: ids as arguments,
// or all.
func SelectDeadLetters(all bool, args []string) (DeadLetterSelection, error) {
	switch {
	case all && len(args) > 0:
		return DeadLetterSelection{}, billsync.Errorf(billsync.EINVALID, "name dead letter ids or use --all, not both")
	case all:
		return DeadLetterSelection{All: true}, nil
	case len(args) == 0:
		return DeadLetterSelection{}, billsync.Errorf(billsync.EINVALID, "name dead letter ids (see `billsync deadletters list`), or use --all for every one")
	}
	sel := DeadLetterSelection{IDs: make([]int64, len(args))}
	for i, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id < 1 {
			return DeadLetterSelection{}, billsync.Errorf(billsync.EINVALID, "%q is not a dead letter id", a)
		}
		sel.IDs[i] = id
	}
	return sel, nil
}

// RetryDeadLetters moves the selected dead letters back to the queue and
// returns the ids retried. A list is taken all or none: an unknown id is
// ENOTFOUND naming it, and nothing is retried.
func (c *Client) RetryDeadLetters(ctx context.Context, sel DeadLetterSelection) ([]int64, error) {
	var out struct {
		Retried []int64 `json:"retried"`
	}
	err := c.selectDeadLetters(ctx, "retry", sel, &out)
	return out.Retried, err
}

// DiscardDeadLetters deletes the selected dead letters for good, as
// RetryDeadLetters selects them, and returns the ids discarded. Each
// leaves a sync-log entry naming this client's token.
func (c *Client) DiscardDeadLetters(ctx context.Context, sel DeadLetterSelection) ([]int64, error) {
	var out struct {
		Discarded []int64 `json:"discarded"`
	}
	err := c.selectDeadLetters(ctx, "discard", sel, &out)
	return out.Discarded, err
}

func (c *Client) selectDeadLetters(ctx context.Context, action string, sel DeadLetterSelection, out any) error {
	if !sel.All && len(sel.IDs) == 0 {
		return billsync.Errorf(billsync.EINVALID, "%s: no dead letters selected (name ids, or all)", action)
	}
	body, err := json.Marshal(sel)
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "%s: %v", action, err)
	}
	return c.do(ctx, http.MethodPost, "/api/v1/deadletters/"+action, nil, body, out)
}

// Queue returns the queue's figures.
func (c *Client) Queue(ctx context.Context) (billsync.QueueStats, error) {
	var out billsync.QueueStats
	err := c.do(ctx, http.MethodGet, "/api/v1/queue", nil, nil, &out)
	return out, err
}

// Status returns billsync's health and recent activity.
func (c *Client) Status(ctx context.Context) (billsync.Status, error) {
	var out billsync.Status
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, nil, &out)
	return out, err
}

// Mapping returns the mapping in force.
func (c *Client) Mapping(ctx context.Context) (billsync.MappingView, error) {
	var out billsync.MappingView
	err := c.do(ctx, http.MethodGet, "/api/v1/mapping", nil, nil, &out)
	return out, err
}

// checkKey refuses what cannot be one path segment. Whether the key
// exists is the server's call: it may know keys this build does not.
func checkKey(key string) error {
	if key == "" || key == "." || key == ".." || strings.ContainsAny(key, "/?#") {
		return billsync.Errorf(billsync.EINVALID, "setting key %q is not valid", key)
	}
	return nil
}

// wireSetting reads the server's setting form, whose updatedAt is null
// for a default.
type wireSetting struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt *time.Time      `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy"`
}

func (w wireSetting) setting() billsync.Setting {
	s := billsync.Setting{Key: w.Key, Value: w.Value, UpdatedBy: w.UpdatedBy}
	if w.UpdatedAt != nil {
		s.UpdatedAt = *w.UpdatedAt
	}
	return s
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	if c.err != nil {
		return c.err
	}
	// path is already escaped; JoinPath keeps a base path such as a
	// reverse proxy's prefix.
	u := c.base.JoinPath(path)
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "admin API request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return fmt.Errorf("%w: %w", billsync.Errorf(billsync.EUNAVAILABLE, "cannot reach billsync at %s", c.base.Redacted()), err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%w: %w", billsync.Errorf(billsync.EUNAVAILABLE, "%s %s: reading the answer failed", method, path), err)
	}
	if res.StatusCode == http.StatusUnauthorized && c.TokenHint != "" {
		if c.token == "" {
			return billsync.Errorf(billsync.EUNAUTHORIZED, "no admin token given: %s", c.TokenHint)
		}
		return billsync.Errorf(billsync.EUNAUTHORIZED, "billsync at %s refused the admin token: %s", c.base.Redacted(), c.TokenHint)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return decodeError(res.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return billsync.Errorf(billsync.EINTERNAL, "%s %s: unexpected answer: %v", method, path, err)
	}
	return nil
}

// decodeError turns an error answer back into *billsync.Error. An answer
// not in the API's shape (a proxy's page, say) gets a code from its status.
func decodeError(status int, data []byte) error {
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &b) == nil && b.Error.Code != "" {
		return &billsync.Error{Code: b.Error.Code, Message: b.Error.Message}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return billsync.Errorf(codeOfStatus(status), "HTTP %d: %s", status, msg)
}

func codeOfStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return billsync.EUNAUTHORIZED
	case status == http.StatusForbidden:
		return billsync.EFORBIDDEN
	case status == http.StatusNotFound:
		return billsync.ENOTFOUND
	case status == http.StatusConflict:
		return billsync.ECONFLICT
	case status == http.StatusTooManyRequests, status == http.StatusBadGateway,
		status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return billsync.EUNAVAILABLE
	case status >= 400 && status < 500:
		return billsync.EINVALID
	}
	return billsync.EINTERNAL
}
