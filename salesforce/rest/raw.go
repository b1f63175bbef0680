package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/billsync/billsync"
)

// RawResponse is an answer read as bytes, for APIs that do not speak JSON
// (Bulk API 2.0 answers result sets as CSV and pages them by header).
type RawResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Raw sends one call with body sent verbatim under contentType (none when
// body is nil) and returns the answer unread by any decoder. accept names
// the wanted answer type ("text/csv", "application/json"). It follows the
// same auth rules as Do (one new login and one retry after a 401) and the
// same error rules: a non-2xx answer is a *billsync.RemoteError read from
// Salesforce's error array.
func (c *Client) Raw(ctx context.Context, method, path, contentType, accept string, body []byte) (*RawResponse, error) {
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.sendRaw(ctx, s, method, path, contentType, accept, body)
		var re *billsync.RemoteError
		if attempt == 0 && errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized {
			c.log.Info("salesforce session expired; logging in again", "method", method, "path", trimQuery(path), "code", re.Code)
			c.Invalidate(s.token)
			continue
		}
		return resp, err
	}
}

func (c *Client) sendRaw(ctx context.Context, s *session, method, path, contentType, accept string, body []byte) (*RawResponse, error) {
	target, err := c.resolve(s, path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce %s %s: %v", method, trimQuery(path), err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("salesforce %s %s: %w", method, trimQuery(path), transportError(ctx, err))
	}
	defer resp.Body.Close()
	c.noteLimits(resp.Header)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("salesforce %s %s: reading the answer: %w", method, trimQuery(path), transportError(ctx, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := decodeError(resp.StatusCode, data)
		c.log.Debug("salesforce call failed", "method", method, "path", trimQuery(path), "status", resp.StatusCode, "code", re.Code)
		return nil, fmt.Errorf("salesforce %s %s: %w", method, trimQuery(path), re)
	}
	return &RawResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}, nil
}
