package m3ter

import (
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type obj = map[string]any

// Kinds of stored records.
const (
	kAccount      = "account"
	kBalance      = "balance"
	kTxn          = "transaction"
	kNotification = "notification"
	kDestination  = "destination"
	kIntegration  = "integrationconfig"
	kEvent        = "event"
)

var kinds = []string{kAccount, kBalance, kTxn, kNotification, kDestination, kIntegration, kEvent}

// table holds one kind's records in creation order.
type table struct {
	order []obj // by "_seq", oldest first
	byID  map[string]obj
}

func newTable() *table { return &table{byID: map[string]obj{}} }

func (t *table) put(o obj) {
	id := o["id"].(string)
	if old := t.byID[id]; old != nil {
		t.order[t.index(seqOf(old))] = o
	} else {
		t.order = append(t.order, o)
	}
	t.byID[id] = o
}

func (t *table) remove(id string) {
	o := t.byID[id]
	if o == nil {
		return
	}
	i := t.index(seqOf(o))
	t.order = append(t.order[:i], t.order[i+1:]...)
	delete(t.byID, id)
}

// index finds the position of the record created at seq.
func (t *table) index(seq int64) int {
	return sort.Search(len(t.order), func(i int) bool { return seqOf(t.order[i]) >= seq })
}

func seqOf(o obj) int64 { return intOf(o["_seq"]) }

// public copies o without the emulator's own keys ("_…"), deeply, so
// callers may change the copy.
func public(o obj) obj {
	out := make(obj, len(o))
	for k, v := range o {
		if !strings.HasPrefix(k, "_") {
			out[k] = deepCopy(v)
		}
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, c := range x {
			out[k] = deepCopy(c)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = deepCopy(c)
		}
		return out
	}
	return v
}

// defaultPageSize is the page size when a list request names none.
const defaultPageSize = 10

// checkPageSize refuses a pageSize outside 1..max (the spec's maximum for
// the list) or one that is not an integer.
func checkPageSize(r *http.Request, max int) *apiError {
	s := r.URL.Query().Get("pageSize")
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return badRequest("pageSize must be an integer from 1 to %d", max)
	}
	return nil
}

// page cuts a newest-first page out of items (oldest first, already
// filtered). nextToken names the position of the last record served, so
// records created meanwhile (all newer) never shift a later page.
func page(r *http.Request, items []obj) ([]obj, string, *apiError) {
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("pageSize"); s != "" {
		size, _ = strconv.Atoi(s)
	}
	hi := len(items)
	if tok := q.Get("nextToken"); tok != "" {
		seq, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || seq < 1 {
			return nil, "", badRequest("nextToken %q is not valid", tok)
		}
		hi = sort.Search(len(items), func(i int) bool { return seqOf(items[i]) >= seq })
	}
	lo := max(0, hi-size)
	out := make([]obj, 0, hi-lo)
	for i := hi - 1; i >= lo; i-- {
		out = append(out, items[i])
	}
	next := ""
	if lo > 0 {
		next = strconv.FormatInt(seqOf(items[lo]), 10)
	}
	return out, next, nil
}

// listBody is m3ter's list answer; nextToken is left out on the last page.
func listBody(data []any, next string) obj {
	if data == nil {
		data = []any{}
	}
	out := obj{"data": data}
	if next != "" {
		out["nextToken"] = next
	}
	return out
}

// queryList reads an array query parameter, repeated (ids=a&ids=b) or
// comma-separated (ids=a,b).
func queryList(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func cloneObj(o obj) obj { return maps.Clone(o) }
