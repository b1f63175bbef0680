package salesforce

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// maxBody bounds a request body; a 200-record collection is far below it.
const maxBody = 32 << 20

// versions are the REST API versions served, oldest first.
var versions = func() []string {
	var v []string
	for n := 20; n <= 62; n++ {
		v = append(v, fmt.Sprintf("%d.0", n))
	}
	return v
}()

// releaseLabel names a version's release as the versions list does:
// 20.0 was Winter '11; three releases a year since.
func releaseLabel(version string) string {
	n, _ := strconv.Atoi(strings.TrimSuffix(version, ".0"))
	i := n - 20
	seasons := []string{"Winter", "Spring", "Summer"}
	year := 11 + (i+2)/3
	return fmt.Sprintf("%s '%02d", seasons[i%3], year)
}

var versionRE = regexp.MustCompile(`^v(\d+)\.0$`)

// apiVersion validates the {version} path segment ("v62.0") and returns
// "62.0" and its major number.
func apiVersion(seg string) (string, int, bool) {
	m := versionRE.FindStringSubmatch(seg)
	if m == nil {
		return "", 0, false
	}
	n, _ := strconv.Atoi(m[1])
	if n < 20 || n > 62 {
		return "", 0, false
	}
	return m[1] + ".0", n, true
}

// call is one authenticated data API request.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	user    *userRec
	version string // "62.0"
	major   int
}

func (c *call) base() string { return "/services/data/v" + c.version }

func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/oauth2/token", e.handleToken)
	mux.HandleFunc("GET /services/data", e.handleVersions)
	mux.HandleFunc("GET /services/data/{$}", e.handleVersions)
	mux.HandleFunc("GET /id/{org}/{user}", e.handleIdentity)
	mux.HandleFunc("GET /services/oauth2/userinfo", e.handleUserInfo)

	data := func(kind string, h func(*call)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { e.serveData(kind, w, r, h) }
	}
	const v = "/services/data/{version}"
	mux.HandleFunc("GET "+v+"/{$}", data("resources", e.handleResources))
	mux.HandleFunc("GET "+v, data("resources", e.handleResources))
	mux.HandleFunc("GET "+v+"/limits", data("limits", e.handleLimits))
	mux.HandleFunc("GET "+v+"/sobjects", data("describe", e.handleGlobalDescribe))
	mux.HandleFunc("GET "+v+"/sobjects/{object}/describe", data("describe", e.handleDescribe))
	mux.HandleFunc("GET "+v+"/sobjects/{object}", data("describe", e.handleObjectInfo))
	mux.HandleFunc("POST "+v+"/sobjects/{object}", data("sobjects", e.handleCreate))
	mux.HandleFunc("GET "+v+"/sobjects/{object}/{id}", data("sobjects", e.handleRetrieve))
	mux.HandleFunc("PATCH "+v+"/sobjects/{object}/{id}", data("sobjects", e.handleUpdate))
	mux.HandleFunc("DELETE "+v+"/sobjects/{object}/{id}", data("sobjects", e.handleDelete))
	mux.HandleFunc("GET "+v+"/sobjects/{object}/{field}/{value}", data("sobjects", e.handleRetrieveByExt))
	mux.HandleFunc("PATCH "+v+"/sobjects/{object}/{field}/{value}", data("sobjects", e.handleUpsert))
	mux.HandleFunc("POST "+v+"/sobjects/{object}/{field}/{value}", data("sobjects", e.handleUpsert))
	mux.HandleFunc("DELETE "+v+"/sobjects/{object}/{field}/{value}", data("sobjects", e.handleDeleteByExt))
	mux.HandleFunc("POST "+v+"/composite/sobjects", data("composite", e.handleCollectionCreate))
	mux.HandleFunc("PATCH "+v+"/composite/sobjects", data("composite", e.handleCollectionUpdate))
	mux.HandleFunc("DELETE "+v+"/composite/sobjects", data("composite", e.handleCollectionDelete))
	mux.HandleFunc("PATCH "+v+"/composite/sobjects/{object}/{field}", data("composite", e.handleCollectionUpsert))
	mux.HandleFunc("GET "+v+"/composite/sobjects/{object}", data("composite", e.handleCollectionRetrieve))
	mux.HandleFunc("POST "+v+"/composite/sobjects/{object}", data("composite", e.handleCollectionRetrieve))
	mux.HandleFunc("GET "+v+"/query", data("query", func(c *call) { e.handleQuery(c, false) }))
	mux.HandleFunc("GET "+v+"/queryAll", data("query", func(c *call) { e.handleQuery(c, true) }))
	mux.HandleFunc("GET "+v+"/tooling/query", data("query", e.handleToolingQuery)) // cdc_tooling.go
	// Clients such as CumulusCI and django-salesforce send a trailing slash
	// ("/query/?q=", "/sobjects/Account/"); a real org accepts it.
	mux.HandleFunc("GET "+v+"/query/{$}", data("query", func(c *call) { e.handleQuery(c, false) }))
	mux.HandleFunc("GET "+v+"/queryAll/{$}", data("query", func(c *call) { e.handleQuery(c, true) }))
	mux.HandleFunc("POST "+v+"/sobjects/{object}/{$}", data("sobjects", e.handleCreate))
	mux.HandleFunc("GET "+v+"/query/{locator}", data("query", e.handleQueryMore))
	mux.HandleFunc("GET "+v+"/queryAll/{locator}", data("query", e.handleQueryMore))
	e.bulkRoutes(mux, v, data)
	mux.HandleFunc("/services/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, errNotFound())
	})
	mux.Handle("/cometd/", e.streamingHandler())
	return methodOverride(mux)
}

// methodOverride serves "POST …?_HttpMethod=PATCH" (or DELETE) as that
// method: the REST API offers the parameter to HTTP libraries that cannot
// send PATCH, and answers exactly as to the real method (204 for an
// update).
func methodOverride(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/services/data/") {
			switch m := strings.ToUpper(r.URL.Query().Get("_HttpMethod")); m {
			case http.MethodPatch, http.MethodDelete:
				r = r.Clone(r.Context())
				r.Method = m
			}
		}
		next.ServeHTTP(w, r)
	})
}

// serveData authenticates a data API request, counts it, and sets
// Sforce-Limit-Info on the answer.
func (e *Emulator) serveData(kind string, w http.ResponseWriter, r *http.Request, h func(*call)) {
	version, major, ok := apiVersion(r.PathValue("version"))
	if !ok {
		writeErrors(w, errNotFound())
		return
	}
	u := e.authenticate(r)
	e.mu.Lock()
	e.calls[kind]++
	if u == nil {
		e.mu.Unlock()
		writeErrors(w, newErr(401, "INVALID_SESSION_ID", "Session expired or invalid"))
		return
	}
	e.apiUsage++
	e.unsaved.apiUsage = true
	e.journalLocked()
	usage, limit := e.apiUsage, e.opts.DailyAPILimit
	e.mu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", usage, limit))
	if usage > limit {
		writeErrors(w, newErr(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
		return
	}
	h(&call{w: w, r: r, user: u, version: version, major: major})
}

// authenticate resolves "Authorization: Bearer|OAuth <token>" to a user.
func (e *Emulator) authenticate(r *http.Request) *userRec {
	tok := sessionToken(r)
	if tok == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.sessions[tok]
	if !ok {
		return nil
	}
	for _, u := range e.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// sessionToken reads the access token of "Authorization: Bearer <token>"
// or "OAuth <token>", the scheme in any case. The Streaming API also takes
// the bare session id, which is what Salesforce's own Java client
// (forcedotcom/EMP-Connector) sends: its LongPollingTransport sets the
// header to bearerToken(), the SOAP login's sessionId or the access token
// as given, with no scheme.
func sessionToken(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, found := strings.Cut(h, " ")
	if !found {
		if strings.HasPrefix(r.URL.Path, "/cometd/") {
			return h
		}
		return ""
	}
	if strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`[{"message":"An unexpected error occurred.","errorCode":"UNKNOWN_EXCEPTION"}]`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// restError is the REST API's error element.
type restError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

// collectionError is the sObject Collections error element: statusCode,
// not errorCode, and fields always present.
type collectionError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func writeErrors(w http.ResponseWriter, err *apiError) {
	if err.Status == 300 {
		writeJSON(w, 300, err.Fields)
		return
	}
	re := restError{Message: err.Message, ErrorCode: err.Code, Fields: err.Fields}
	b, _ := json.Marshal([]restError{re})
	if err.Fields != nil && len(err.Fields) == 0 {
		// omitempty drops an empty list that a save error carries.
		b, _ = json.Marshal([]map[string]any{{"message": err.Message, "errorCode": err.Code, "fields": []string{}}})
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(err.Status)
	_, _ = w.Write(b)
}

func readBody(c *call) (map[string]any, *apiError) {
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody))
	if err != nil {
		return nil, newErr(400, "JSON_PARSER_ERROR", "could not read the request body")
	}
	return parseBody(b)
}

// ---------------------------------------------------------------- sObjects

func (e *Emulator) objectFor(c *call, name string) (*objectDef, bool) {
	o := e.schema.object(name)
	if o == nil {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "The requested resource does not exist"))
		return nil, false
	}
	return o, true
}

func (e *Emulator) handleCreate(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	if !o.Event {
		e.beforeWrite(c, "create", o.Name, []map[string]any{body}, nil)
	}
	e.mu.Lock()
	t := e.beginLocked(c.user)
	id, aerr := t.insert(o, body)
	if aerr != nil {
		t.rollback()
		e.mu.Unlock()
		writeErrors(c.w, aerr)
		return
	}
	t.commit()
	e.mu.Unlock()
	c.w.Header().Set("Location", c.base()+"/sobjects/"+o.Name+"/"+id)
	writeJSON(c.w, 201, map[string]any{"id": id, "success": true, "errors": enqueued(t.published)})
}

// enqueued is the errors member of a platform event publish: one
// OPERATION_ENQUEUED entry carrying the EventUuid. Other saves have none.
func enqueued(uuids []string) []collectionError {
	out := []collectionError{}
	for _, u := range uuids {
		out = append(out, collectionError{StatusCode: "OPERATION_ENQUEUED", Message: u, Fields: []string{}})
	}
	return out
}

func (e *Emulator) handleRetrieve(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	raw := c.r.PathValue("id")
	id, isID := normalizeID(raw)
	if !isID || e.schema.byPrefix[id[:3]] == nil {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: %s", raw))
		return
	}
	fields, aerr := e.fieldList(o, c.r.URL.Query().Get("fields"))
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.mu.Lock()
	r, aerr := e.liveLocked(o, id)
	if aerr != nil {
		e.mu.Unlock()
		writeErrors(c.w, aerr)
		return
	}
	out := e.renderLocked(r, fields, c.version)
	e.mu.Unlock()
	writeJSON(c.w, 200, out)
}

// fieldList parses ?fields=A,B for a retrieve.
func (e *Emulator) fieldList(o *objectDef, s string) ([]string, *apiError) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		f := o.field(n)
		if f == nil {
			return nil, newErr(400, "INVALID_FIELD", "No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", n, o.Name)
		}
		out = append(out, f.Name)
	}
	return out, nil
}

func (e *Emulator) handleUpdate(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	if o.Event {
		writeErrors(c.w, newErr(405, "METHOD_NOT_ALLOWED", "HTTP Method 'PATCH' not allowed. Allowed are POST"))
		return
	}
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.beforeWrite(c, "update", o.Name, []map[string]any{body}, []string{c.r.PathValue("id")})
	e.mu.Lock()
	t := e.beginLocked(c.user)
	if aerr := t.update(o, c.r.PathValue("id"), body); aerr != nil {
		t.rollback()
		e.mu.Unlock()
		writeErrors(c.w, aerr)
		return
	}
	t.commit()
	e.mu.Unlock()
	c.w.WriteHeader(204)
}

func (e *Emulator) handleDelete(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	id, ok := normalizeID(c.r.PathValue("id"))
	if !ok {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: %s", c.r.PathValue("id")))
		return
	}
	e.beforeWrite(c, "delete", o.Name, nil, []string{id})
	e.mu.Lock()
	var aerr *apiError
	if r := e.records[id]; r != nil && !strings.EqualFold(r.Object, o.Name) {
		aerr = errNotFound()
	} else {
		t := e.beginLocked(c.user)
		if aerr = t.delete(id); aerr != nil {
			t.rollback()
		} else {
			t.commit()
		}
	}
	e.mu.Unlock()
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	c.w.WriteHeader(204)
}

// extMatch finds the one live record of o whose external id field holds
// value, answering the errors of GET/DELETE by external id.
func (e *Emulator) extMatch(c *call, o *objectDef) (*record, bool) {
	f := o.field(c.r.PathValue("field"))
	if f == nil || !(f.ExternalID || f.Type == "id") {
		writeErrors(c.w, newErr(404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: %s", c.r.PathValue("field")))
		return nil, false
	}
	value := c.r.PathValue("value")
	var ids []string
	if f.Type == "id" {
		if id, ok := normalizeID(value); ok {
			if r := e.records[id]; r != nil && !r.Deleted && strings.EqualFold(r.Object, o.Name) {
				ids = []string{id}
			}
		}
	} else {
		ids = e.findByFieldLocked(o, f, value)
	}
	switch len(ids) {
	case 0:
		writeErrors(c.w, errNotFound())
		return nil, false
	case 1:
		return e.records[ids[0]], true
	}
	urls := make([]string, len(ids))
	for i, id := range ids {
		urls[i] = c.base() + "/sobjects/" + o.Name + "/" + id
	}
	writeJSON(c.w, 300, urls)
	return nil, false
}

func (e *Emulator) handleRetrieveByExt(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	fields, aerr := e.fieldList(o, c.r.URL.Query().Get("fields"))
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.extMatch(c, o)
	if !ok {
		return
	}
	writeJSON(c.w, 200, e.renderLocked(r, fields, c.version))
}

func (e *Emulator) handleDeleteByExt(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.extMatch(c, o)
	if !ok {
		return
	}
	t := e.beginLocked(c.user)
	if aerr := t.delete(r.ID); aerr != nil {
		t.rollback()
		writeErrors(c.w, aerr)
		return
	}
	t.commit()
	c.w.WriteHeader(204)
}

func (e *Emulator) handleUpsert(c *call) {
	o, ok := e.objectFor(c, c.r.PathValue("object"))
	if !ok {
		return
	}
	body, aerr := readBody(c)
	if aerr != nil {
		writeErrors(c.w, aerr)
		return
	}
	e.beforeWrite(c, "upsert", o.Name, []map[string]any{body}, []string{c.r.PathValue("value")})
	e.mu.Lock()
	t := e.beginLocked(c.user)
	id, created, aerr := t.upsert(o, c.r.PathValue("field"), c.r.PathValue("value"), body)
	if aerr != nil {
		t.rollback()
		e.mu.Unlock()
		if aerr.Status == 300 {
			urls := make([]string, len(aerr.Fields))
			for i, id := range aerr.Fields {
				urls[i] = c.base() + "/sobjects/" + o.Name + "/" + id
			}
			writeJSON(c.w, 300, urls)
			return
		}
		writeErrors(c.w, aerr)
		return
	}
	t.commit()
	e.mu.Unlock()
	// API 46.0 and later answer an update with 200 and a body; earlier
	// versions with 204.
	switch {
	case created:
		c.w.Header().Set("Location", c.base()+"/sobjects/"+o.Name+"/"+id)
		writeJSON(c.w, 201, map[string]any{"id": id, "success": true, "errors": []any{}, "created": true})
	case c.major >= 46:
		writeJSON(c.w, 200, map[string]any{"id": id, "success": true, "errors": []any{}, "created": false})
	default:
		c.w.WriteHeader(204)
	}
}

// renderLocked is a record as GET answers it: attributes, then the fields
// (all of them, or those asked for) in describe order.
func (e *Emulator) renderLocked(r *record, fields []string, version string) billsync.SObject {
	o := e.schema.object(r.Object)
	out := billsync.SObject{"attributes": map[string]any{"type": o.Name, "url": "/services/data/v" + version + "/sobjects/" + o.Name + "/" + r.ID}}
	if fields != nil {
		for _, n := range fields {
			out[n] = wireValue(o.field(n), r.Fields[n])
		}
		return out
	}
	for _, f := range o.Fields {
		out[f.Name] = wireValue(f, r.Fields[f.Name])
	}
	out["Id"] = r.ID
	out["IsDeleted"] = r.Deleted
	return out
}

// EachRecord calls f with each live record of object in creation order,
// rendered with only the named fields (and attributes), one at a time: a
// caller checking every record of a large org need not hold them all
// rendered at once. f runs with the org locked and must not call the
// emulator.
func (e *Emulator) EachRecord(object string, fields []string, f func(billsync.SObject)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.sortedLocked(object, false) {
		f(e.renderLocked(r, fields, LatestVersion))
	}
}
