package salesforce

import (
	"encoding/json"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Bulk API 2.0: ingest and query jobs over the same store, rules and
// triggers as the REST writes and queries. Jobs run on a goroutine of
// their own after they are closed (ingest) or created (query), so a
// client polls them as it polls a real org.

// maxBulkUpload is the most CSV one upload may carry: 150 MB once
// Salesforce base64-encodes it, so 100 MB raw.
const maxBulkUpload = 100 << 20

// bulkChunk is how many rows are applied in one transaction: Salesforce
// runs a bulk load's triggers 200 records at a time.
const bulkChunk = 200

// bulkState holds the org's Bulk API 2.0 jobs.
type bulkState struct {
	mu   sync.Mutex
	jobs map[string]*bulkJob
	// created counts the jobs ever created by kind; deleted jobs stay
	// counted.
	created map[string]int
	// hold is how many info polls a running job answers InProgress to
	// before it is applied (SetBulkHold).
	hold int
	// rowFault fails chosen rows (SetIngestRowFault).
	rowFault func(object string, row map[string]any) (code, message string)
}

// bulkJob is one job: its info as the API answers it, its data and its
// per-row outcomes.
type bulkJob struct {
	info    jobInfo
	kind    string // "ingest" or "query"
	user    *userRec
	version string
	header  []string
	rows    [][]string // query: its SOQL
	// uploads are an ingest job's CSV bodies as uploaded, header row
	// and all; nrows counts their data rows. An org keeps a job and its
	// results for days: parsed, every cell would be a string of its own,
	// so rows are parsed again when the job runs and when results are read.
	uploads [][]byte
	nrows   int
	results []rowResult // ingest: one per row, in upload order
	csvOut  [][]string  // query: header row then records
	polls   int
	release chan struct{}
	started time.Time
}

// rowResult is one ingested row's outcome.
type rowResult struct {
	done    bool
	id      string
	created bool
	err     string // "CODE:message:fields --" when the row failed
}

// jobInfo is a job as Salesforce describes it; fields a kind of job does
// not have are left out.
type jobInfo struct {
	ID                      string      `json:"id"`
	Operation               string      `json:"operation"`
	Object                  string      `json:"object"`
	CreatedByID             string      `json:"createdById"`
	CreatedDate             string      `json:"createdDate"`
	SystemModstamp          string      `json:"systemModstamp"`
	State                   string      `json:"state"`
	ExternalIDFieldName     string      `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode         string      `json:"concurrencyMode"`
	ContentType             string      `json:"contentType"`
	APIVersion              json.Number `json:"apiVersion"`
	ContentURL              string      `json:"contentUrl,omitempty"`
	LineEnding              string      `json:"lineEnding"`
	ColumnDelimiter         string      `json:"columnDelimiter"`
	JobType                 string      `json:"jobType,omitempty"`
	NumberRecordsProcessed  *int64      `json:"numberRecordsProcessed,omitempty"`
	NumberRecordsFailed     *int64      `json:"numberRecordsFailed,omitempty"`
	Retries                 *int64      `json:"retries,omitempty"`
	TotalProcessingTime     *int64      `json:"totalProcessingTime,omitempty"`
	APIActiveProcessingTime *int64      `json:"apiActiveProcessingTime,omitempty"`
	ApexProcessingTime      *int64      `json:"apexProcessingTime,omitempty"`
	ErrorMessage            string      `json:"errorMessage,omitempty"`
}

// delimiters are the columnDelimiter values Bulk API 2.0 accepts.
var delimiters = map[string]rune{"COMMA": ',', "TAB": '\t', "PIPE": '|', "SEMICOLON": ';', "CARET": '^', "BACKQUOTE": '`'}

// SetBulkHold makes every Bulk API 2.0 job answer InProgress to n polls of
// its info before it is applied, so a test sees a job run without a
// sleep deciding the order. 0 (the default) applies jobs at once.
func (e *Emulator) SetBulkHold(n int) {
	e.bulk.mu.Lock()
	e.bulk.hold = max(n, 0)
	e.bulk.mu.Unlock()
}

// BulkJobs counts the Bulk API 2.0 jobs created, by kind ("ingest",
// "query"), deleted ones included.
func (e *Emulator) BulkJobs() map[string]int {
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	return maps.Clone(e.bulk.created)
}

func (e *Emulator) bulkRoutes(mux *http.ServeMux, v string, data func(string, func(*call)) http.HandlerFunc) {
	for _, p := range []string{v + "/jobs/ingest", v + "/jobs/ingest/{$}"} {
		mux.HandleFunc("POST "+p, data("bulk", e.handleIngestCreate))
		mux.HandleFunc("GET "+p, data("bulk", func(c *call) { e.handleJobList(c, "ingest") }))
	}
	for _, p := range []string{v + "/jobs/query", v + "/jobs/query/{$}"} {
		mux.HandleFunc("POST "+p, data("bulk", e.handleQueryJobCreate))
		mux.HandleFunc("GET "+p, data("bulk", func(c *call) { e.handleJobList(c, "query") }))
	}
	for _, kind := range []string{"ingest", "query"} {
		k := kind
		base := v + "/jobs/" + k + "/{job}"
		mux.HandleFunc("GET "+base, data("bulk", func(c *call) { e.handleJobInfo(c, k) }))
		mux.HandleFunc("PATCH "+base, data("bulk", func(c *call) { e.handleJobState(c, k) }))
		mux.HandleFunc("DELETE "+base, data("bulk", func(c *call) { e.handleJobDelete(c, k) }))
	}
	mux.HandleFunc("PUT "+v+"/jobs/ingest/{job}/batches", data("bulk", e.handleIngestUpload))
	mux.HandleFunc("PUT "+v+"/jobs/ingest/{job}/batches/{$}", data("bulk", e.handleIngestUpload))
	for _, set := range []string{"successfulResults", "failedResults", "unprocessedrecords"} {
		s := set
		mux.HandleFunc("GET "+v+"/jobs/ingest/{job}/"+s, data("bulk", func(c *call) { e.handleIngestResults(c, s) }))
		mux.HandleFunc("GET "+v+"/jobs/ingest/{job}/"+s+"/{$}", data("bulk", func(c *call) { e.handleIngestResults(c, s) }))
	}
	mux.HandleFunc("GET "+v+"/jobs/query/{job}/results", data("bulk", e.handleQueryResults))
}

// newJob registers a job in state Open (ingest) or UploadComplete (query).
func (e *Emulator) newJob(c *call, kind string, info jobInfo) *bulkJob {
	now := e.clock()
	e.mu.Lock()
	id := e.nextIDLocked("750")
	e.mu.Unlock()
	info.ID = id
	info.CreatedByID = c.user.ID
	info.CreatedDate = formatDateTime(now)
	info.SystemModstamp = info.CreatedDate
	info.ConcurrencyMode = "Parallel"
	info.ContentType = "CSV"
	info.APIVersion = json.Number(c.version)
	j := &bulkJob{info: info, kind: kind, user: c.user, version: c.version, release: make(chan struct{}), started: now}
	e.bulk.mu.Lock()
	if e.bulk.jobs == nil {
		e.bulk.jobs, e.bulk.created = map[string]*bulkJob{}, map[string]int{}
	}
	e.bulk.created[kind]++
	e.bulk.jobs[id] = j
	e.bulk.mu.Unlock()
	return j
}

// job finds a job of kind by the {job} path segment, answering 404 as
// Salesforce does for an unknown or deleted job.
func (e *Emulator) job(c *call, kind string) *bulkJob {
	id, ok := normalizeID(c.r.PathValue("job"))
	e.bulk.mu.Lock()
	j := e.bulk.jobs[id]
	e.bulk.mu.Unlock()
	if !ok || j == nil || j.kind != kind {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "The requested resource does not exist"))
		return nil
	}
	return j
}

// snapshot copies a job's info under the bulk lock.
func (e *Emulator) snapshot(j *bulkJob) jobInfo {
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	return j.info
}

func (e *Emulator) handleJobInfo(c *call, kind string) {
	j := e.job(c, kind)
	if j == nil {
		return
	}
	e.bulk.mu.Lock()
	if j.info.State == "InProgress" {
		j.polls++
		if j.polls >= e.bulk.hold {
			select {
			case <-j.release:
			default:
				close(j.release)
			}
		}
	}
	info := j.info
	e.bulk.mu.Unlock()
	writeJSON(c.w, 200, info)
}

func (e *Emulator) handleJobList(c *call, kind string) {
	e.bulk.mu.Lock()
	var recs []jobInfo
	for _, j := range e.bulk.jobs {
		if j.kind == kind {
			recs = append(recs, j.info)
		}
	}
	e.bulk.mu.Unlock()
	sort.Slice(recs, func(a, b int) bool { return recs[a].ID < recs[b].ID })
	if recs == nil {
		recs = []jobInfo{}
	}
	writeJSON(c.w, 200, map[string]any{"done": true, "records": recs, "nextRecordsUrl": nil})
}

// handleJobState closes (UploadComplete) or aborts (Aborted) a job.
func (e *Emulator) handleJobState(c *call, kind string) {
	j := e.job(c, kind)
	if j == nil {
		return
	}
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	want, _ := body["state"].(string)
	e.bulk.mu.Lock()
	cur := j.info.State
	switch {
	case want == "UploadComplete" && kind == "ingest" && cur == "Open":
		j.info.State = "UploadComplete"
		go e.runJob(j)
	case want == "Aborted" && (cur == "Open" || cur == "UploadComplete" || cur == "InProgress"):
		j.info.State = "Aborted"
		select {
		case <-j.release:
		default:
			close(j.release)
		}
	default:
		e.bulk.mu.Unlock()
		writeErrors(c.w, newErr(400, "INVALIDJOBSTATE", "Invalid job state transition from %s to %s", cur, want))
		return
	}
	j.info.SystemModstamp = formatDateTime(e.clock())
	info := j.info
	e.bulk.mu.Unlock()
	writeJSON(c.w, 200, info)
}

func (e *Emulator) handleJobDelete(c *call, kind string) {
	j := e.job(c, kind)
	if j == nil {
		return
	}
	e.bulk.mu.Lock()
	// Salesforce deletes a job only in UploadComplete, JobComplete,
	// Aborted or Failed.
	st := j.info.State
	if st == "Open" || st == "InProgress" {
		e.bulk.mu.Unlock()
		writeErrors(c.w, newErr(400, "INVALIDJOBSTATE", "Deleting a job in state %s is not allowed", st))
		return
	}
	delete(e.bulk.jobs, j.info.ID)
	e.bulk.mu.Unlock()
	c.w.WriteHeader(http.StatusNoContent)
}

// runJob moves a closed job through InProgress to its end, waiting for
// the polls SetBulkHold asks for first.
func (e *Emulator) runJob(j *bulkJob) {
	e.bulk.mu.Lock()
	if j.info.State == "Aborted" {
		e.bulk.mu.Unlock()
		return
	}
	j.info.State = "InProgress"
	if j.kind == "ingest" {
		// Ingest job info carries its counters once the job runs.
		zero := func() *int64 { var n int64; return &n }
		j.info.NumberRecordsProcessed, j.info.NumberRecordsFailed, j.info.Retries = zero(), zero(), zero()
		j.info.TotalProcessingTime, j.info.APIActiveProcessingTime, j.info.ApexProcessingTime = zero(), zero(), zero()
	}
	hold := e.bulk.hold
	e.bulk.mu.Unlock()
	if hold > 0 {
		<-j.release
	}
	var failMsg string
	if j.kind == "ingest" {
		failMsg = e.applyIngest(j)
	} else {
		failMsg = e.evalQueryJob(j)
	}
	e.bulk.mu.Lock()
	defer e.bulk.mu.Unlock()
	if j.info.State == "Aborted" {
		return
	}
	j.info.State = "JobComplete"
	if failMsg != "" {
		j.info.State, j.info.ErrorMessage = "Failed", failMsg
	}
	ms := e.clock().Sub(j.started).Milliseconds()
	j.info.TotalProcessingTime = &ms
	if j.kind == "ingest" {
		active, apex := ms, int64(0)
		j.info.APIActiveProcessingTime, j.info.ApexProcessingTime = &active, &apex
	}
	j.info.SystemModstamp = formatDateTime(e.clock())
}

// csvLine writes one result row as Salesforce does: every value quoted.
func csvLine(b *strings.Builder, vals []string, delim rune, eol string) {
	for i, v := range vals {
		if i > 0 {
			b.WriteRune(delim)
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(v, `"`, `""`))
		b.WriteByte('"')
	}
	b.WriteString(eol)
}

func lineEnd(le string) string {
	if le == "CRLF" {
		return "\r\n"
	}
	return "\n"
}

func writeCSV(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/csv")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
