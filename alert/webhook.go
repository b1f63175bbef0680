package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook posts messages as JSON to a URL (a Slack incoming webhook, or
// anything that takes a POST). The URL is a secret: Slack's carries its
// key in the path, others in the query, so neither ever appears in an
// error or a log line; Redacted is what does.
type Webhook struct {
	url      string
	redacted string
	hc       *http.Client
	tries    int
	backoff  time.Duration
}

// WebhookOptions tune a Webhook; zero values take the defaults.
type WebhookOptions struct {
	Timeout time.Duration // per attempt (default 10 s)
	Tries   int           // attempts per Send (default 3)
	Backoff time.Duration // before the second attempt, doubling (default 1 s)
	Client  *http.Client  // default: one with Timeout
}

// NewWebhook checks rawURL (http or https, with a host).
func NewWebhook(rawURL string, o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alerts.webhookUrl %s: want http(s)://host/path", Redacted(rawURL))
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	return &Webhook{url: rawURL, redacted: Redacted(rawURL), hc: o.Client, tries: o.Tries, backoff: o.Backoff}, nil
}

// Redacted is rawURL as a log line may show it: scheme and host only.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// Send posts m, retrying a failed attempt (no answer, 429 or 5xx) with
// backoff; any other refusal is final for this call.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wait := w.backoff
	for try := 1; ; try++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || try >= w.tries {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("alerts webhook %s: %w", w.redacted, stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		return true, fmt.Errorf("alerts webhook %s: %w", w.redacted, stripURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500,
		fmt.Errorf("alerts webhook %s answered %s", w.redacted, resp.Status)
}

// stripURL drops the URL a *url.Error repeats, keeping why it failed.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
