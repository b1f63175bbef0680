package billingapi

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

	"github.com/billsync/billsync"
)

// maxResponse bounds a response body (a 1000-record page of quotes fits
// comfortably).
const maxResponse = 64 << 20

// Client is the billing contract's REST client. It is safe for concurrent
// use.
type Client struct {
	base  string // without trailing slash
	token string
	hc    *http.Client
}

var _ billsync.Billing = (*Client)(nil)

// New returns a client for the API at baseURL (e.g.
// "https://billing.example.com"; the /api/v1 paths are appended). hc nil
// means http.DefaultClient; callers should pass one with a timeout.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// Capabilities are the billing contract's (SPEC §5.3): integer versions,
// every field of every record writable, offerings on quotes, signed
// webhooks.
var Capabilities = billsync.BillingCapabilities{
	Platform:              "billsync-contract",
	Versioning:            billsync.VersionInteger,
	BalanceAmountWritable: true,
	TransactionsUpdatable: true,
	TransactionsDeletable: true,
	QuotesCarryOfferings:  true,
	SignedWebhooks:        true,
	TransactionEvents:     true,
}

// Capabilities of the billing contract.
func (c *Client) Capabilities() billsync.BillingCapabilities { return Capabilities }

var collection = map[billsync.ObjectType]string{
	billsync.ObjectAccount:            "accounts",
	billsync.ObjectBalance:            "balances",
	billsync.ObjectBalanceTransaction: "balance-transactions",
	billsync.ObjectQuote:              "quotes",
}

func pathOf(t billsync.ObjectType) (string, error) {
	c, ok := collection[t]
	if !ok {
		return "", billsync.Errorf(billsync.EINVALID, "billing: unknown object type %q", t)
	}
	return "/api/v1/" + c, nil
}

func recordPath(t billsync.ObjectType, id string) (string, error) {
	p, err := pathOf(t)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", billsync.Errorf(billsync.EINVALID, "billing: %s id is empty", t)
	}
	return p + "/" + url.PathEscape(id), nil
}

// Tenant returns the id of the billing tenant the token reaches.
func (c *Client) Tenant(ctx context.Context) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/tenant", nil, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusOK, Message: "GET /api/v1/tenant answered no id"}
	}
	return out.ID, nil
}

// Get reads one record; a *RemoteError with status 404 when it is absent.
func (c *Client) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	p, err := recordPath(t, id)
	if err != nil {
		return nil, err
	}
	var out billsync.Entity
	if err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// List returns one page and the cursor of the next ("" on the last page).
func (c *Client) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	p, err := pathOf(t)
	if err != nil {
		return nil, "", err
	}
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out struct {
		Data       []billsync.Entity `json:"data"`
		NextCursor *string           `json:"nextCursor"`
	}
	if err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, "", err
	}
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	if out.Data == nil {
		out.Data = []billsync.Entity{}
	}
	return out.Data, next, nil
}

// Create inserts a record and returns it as stored.
func (c *Client) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, idempotencyKey string) (billsync.Entity, error) {
	p, err := pathOf(t)
	if err != nil {
		return nil, err
	}
	var out billsync.Entity
	if err := c.doWith(ctx, http.MethodPost, p, e, &out, idempotencyKey); err != nil {
		return nil, err
	}
	return out, nil
}

// Update writes the whole record; e["version"] must be the version it was
// read at, or the platform answers 409.
func (c *Client) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	p, err := recordPath(t, e.ID())
	if err != nil {
		return nil, err
	}
	var out billsync.Entity
	if err := c.do(ctx, http.MethodPut, p, e, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes a record; a *RemoteError with status 404 when already gone.
func (c *Client) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	p, err := recordPath(t, id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doWith(ctx, method, path, in, out, "")
}

// doWith is do with an Idempotency-Key header when key is not empty.
func (c *Client) doWith(ctx context.Context, method, path string, in, out any, key string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return billsync.Errorf(billsync.EINVALID, "billing: encode %s %s: %v", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "billing: %s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &billsync.RemoteError{
			System: billsync.SystemBilling, Message: method + " " + path + " failed",
			Transient: ctx.Err() == nil, Err: err,
		}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return &billsync.RemoteError{
			System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: method + " " + path + ": reading the response failed", Transient: ctx.Err() == nil, Err: err,
		}
	}
	if len(raw) > maxResponse {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: response larger than %d bytes", method, path, maxResponse)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return remoteError(method, path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: malformed response: %v", method, path, err)}
	}
	return nil
}

func remoteError(method, path string, status int, raw []byte) *billsync.RemoteError {
	re := &billsync.RemoteError{
		System:     billsync.SystemBilling,
		StatusCode: status,
		Transient:  status >= 500 || status == http.StatusTooManyRequests,
	}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err == nil && body.Error != nil {
		re.Code, re.Message = body.Error.Code, body.Error.Message
		if body.Error.Field != "" {
			re.Fields = []string{body.Error.Field}
		}
	}
	if re.Message == "" {
		snippet := strings.TrimSpace(string(raw))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		re.Message = fmt.Sprintf("%s %s: %s", method, path, firstNonEmpty(snippet, http.StatusText(status)))
	}
	return re
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
