package bulk

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/rest"
)

// Job states, as Salesforce names them.
const (
	StateOpen           = "Open"
	StateUploadComplete = "UploadComplete"
	StateInProgress     = "InProgress"
	StateJobComplete    = "JobComplete"
	StateFailed         = "Failed"
	StateAborted        = "Aborted"
)

// Operations of ingest jobs.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// MaxUploadBytes is the most CSV one upload may carry: Salesforce allows
// 150 MB once base64-encoded, which is 100 MB of raw CSV.
const MaxUploadBytes = 100 << 20

// Job is a job's info as Salesforce answers it. Counters are numbers on
// the wire; json.Number keeps them exact whatever their size.
type Job struct {
	ID                     string      `json:"id"`
	Operation              string      `json:"operation"`
	Object                 string      `json:"object"`
	CreatedByID            string      `json:"createdById,omitempty"`
	CreatedDate            string      `json:"createdDate,omitempty"`
	SystemModstamp         string      `json:"systemModstamp,omitempty"`
	State                  string      `json:"state"`
	ExternalIDFieldName    string      `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode        string      `json:"concurrencyMode,omitempty"`
	ContentType            string      `json:"contentType,omitempty"`
	APIVersion             json.Number `json:"apiVersion,omitempty"`
	ContentURL             string      `json:"contentUrl,omitempty"`
	LineEnding             string      `json:"lineEnding,omitempty"`
	ColumnDelimiter        string      `json:"columnDelimiter,omitempty"`
	JobType                string      `json:"jobType,omitempty"`
	NumberRecordsProcessed json.Number `json:"numberRecordsProcessed,omitempty"`
	NumberRecordsFailed    json.Number `json:"numberRecordsFailed,omitempty"`
	Retries                json.Number `json:"retries,omitempty"`
	TotalProcessingTime    json.Number `json:"totalProcessingTime,omitempty"`
	ErrorMessage           string      `json:"errorMessage,omitempty"`
}

// Terminal reports whether the job will change state no more.
func (j *Job) Terminal() bool {
	switch j.State {
	case StateJobComplete, StateFailed, StateAborted:
		return true
	}
	return false
}

// Options tune a Client; zero values take the defaults.
type Options struct {
	// MaxUploadBytes splits an ingest load into jobs of at most this much
	// CSV each; MaxUploadBytes when zero. Tests lower it to see splits.
	MaxUploadBytes int
	// PollMin and PollMax bound the wait between job polls, which doubles
	// from PollMin (default 250 ms) to PollMax (default 10 s).
	PollMin, PollMax time.Duration
	// MaxRecords asks query result sets of at most this many rows; the
	// server's own default when zero.
	MaxRecords int
	// Threshold is the record count above which ReadAll uses a query job
	// rather than REST query pages; DefaultThreshold when zero, never
	// when negative.
	Threshold int
	// LineEnding is "LF" (default) or "CRLF" for uploads.
	LineEnding string
}

// DefaultThreshold: below this many records REST query pages (2,000 rows
// a call) cost few calls and no job lifecycle; above it a query job
// answers in fewer, larger result sets.
const DefaultThreshold = 10000

// Client runs Bulk API 2.0 jobs over a REST client's session.
type Client struct {
	rc   *rest.Client
	opts Options
}

// New returns a Bulk client over rc.
func New(rc *rest.Client, opts Options) *Client {
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = MaxUploadBytes
	}
	if opts.PollMin <= 0 {
		opts.PollMin = 250 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = 10 * time.Second
	}
	if opts.Threshold == 0 {
		opts.Threshold = DefaultThreshold
	}
	if opts.LineEnding == "" {
		opts.LineEnding = "LF"
	}
	return &Client{rc: rc, opts: opts}
}

// REST is the REST client the Bulk client rides on.
func (c *Client) REST() *rest.Client { return c.rc }

func (c *Client) jobInfo(ctx context.Context, kind, id string) (*Job, error) {
	var j Job
	if err := c.rc.Do(ctx, http.MethodGet, "/jobs/"+kind+"/"+id, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// wait polls a job until it reaches a terminal state, waiting longer
// between polls as the job runs on, and gives up when ctx ends.
func (c *Client) wait(ctx context.Context, kind, id string) (*Job, error) {
	delay := c.opts.PollMin
	for {
		j, err := c.jobInfo(ctx, kind, id)
		if err != nil {
			if ctx.Err() != nil {
				// The wait ended during a poll: the job is as unwanted
				// as when it ends between polls.
				c.abandon(ctx, kind, id)
			}
			return nil, err
		}
		if j.Terminal() {
			return j, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			c.abandon(ctx, kind, id)
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, c.opts.PollMax)
	}
}

// abandon aborts a job its caller no longer waits for (ctx ended), so
// no job runs on Salesforce's side for nobody.
func (c *Client) abandon(ctx context.Context, kind, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = c.abort(actx, kind, id)
}

func (c *Client) abort(ctx context.Context, kind, id string) error {
	return c.rc.Do(ctx, http.MethodPatch, "/jobs/"+kind+"/"+id, map[string]any{"state": StateAborted}, nil)
}

// jobError describes a job that ended without completing.
func jobError(j *Job) error {
	return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: http.StatusOK,
		Message: "bulk " + j.Operation + " job " + j.ID + " on " + j.Object + " ended " + j.State + ": " + j.ErrorMessage}
}
