package stripe

import (
	"encoding/json"
	"maps"
	"sort"
	"strings"
)

// obj is a Stripe object as the API renders it. Keys starting with "_"
// are the emulator's own (creation order, a quote's line items, a
// webhook secret) and never leave it.
type obj = map[string]any

// Object kinds, as their "object" field names them.
const (
	kCustomer = "customer"
	kTxn      = "customer_balance_transaction"
	kProduct  = "product"
	kPrice    = "price"
	kQuote    = "quote"
	kEndpoint = "webhook_endpoint"
)

var kinds = []string{kCustomer, kTxn, kProduct, kPrice, kQuote, kEndpoint}

// table holds one kind's objects in creation order.
type table struct {
	order []obj // by "_seq", oldest first
	byID  map[string]obj
}

func newTable() *table { return &table{byID: map[string]obj{}} }

func (t *table) put(o obj) {
	id := o["id"].(string)
	if old := t.byID[id]; old != nil {
		i := t.index(seqOf(old))
		t.order[i] = o
	} else {
		t.order = append(t.order, o)
	}
	t.byID[id] = o
}

// index finds the position of the object created at seq (order is by seq).
func (t *table) index(seq int64) int {
	return sort.Search(len(t.order), func(i int) bool { return seqOf(t.order[i]) >= seq })
}

func seqOf(o obj) int64 {
	switch s := o["_seq"].(type) {
	case int64:
		return s
	case json.Number:
		n, _ := s.Int64()
		return n
	case float64:
		return int64(s)
	}
	return 0
}

// public copies o without the emulator's own keys, deeply, so callers may
// change the copy.
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
	case map[string]string:
		return maps.Clone(x)
	case map[string]int64:
		return maps.Clone(x)
	}
	return v
}

// listQuery is the paging of a list request.
type listQuery struct {
	limit         int
	startingAfter string
	endingBefore  string
}

func pagingOf(in map[string]any) (listQuery, *apiError) {
	q := listQuery{limit: 10}
	if n, ok := in["limit"].(int64); ok {
		if n < 1 || n > 100 {
			return q, invalidParam("limit", "This value must be greater than or equal to 1 and less than or equal to 100.")
		}
		q.limit = int(n)
	}
	q.startingAfter, _ = in["starting_after"].(string)
	q.endingBefore, _ = in["ending_before"].(string)
	if q.startingAfter != "" && q.endingBefore != "" {
		return q, invalidParam("starting_after", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	return q, nil
}

var pagingParams = params{"limit": {kind: kInt}, "starting_after": {kind: kStr}, "ending_before": {kind: kStr}, "expand": {kind: kStrList}}

// page cuts a newest-first page out of items (oldest first, already
// filtered). The cursor object is found by seq: it need not pass the
// filter, and records created meanwhile never shift a page, since they
// are newer than every cursor.
func page(items []obj, q listQuery, cursorSeq func(id string) (int64, bool), what string) ([]obj, bool, *apiError) {
	pos := func(s int64) int { // first item with seq >= s
		return sort.Search(len(items), func(i int) bool { return seqOf(items[i]) >= s })
	}
	var lo, hi int // the candidates are items[lo:hi]
	switch {
	case q.startingAfter != "":
		s, ok := cursorSeq(q.startingAfter)
		if !ok {
			return nil, false, noSuch(what, q.startingAfter, "starting_after")
		}
		lo, hi = 0, pos(s)
		from := max(lo, hi-q.limit)
		return reversed(items[from:hi]), from > lo, nil
	case q.endingBefore != "":
		s, ok := cursorSeq(q.endingBefore)
		if !ok {
			return nil, false, noSuch(what, q.endingBefore, "ending_before")
		}
		lo, hi = pos(s+1), len(items)
		to := min(hi, lo+q.limit)
		return reversed(items[lo:to]), to < hi, nil
	}
	from := max(0, len(items)-q.limit)
	return reversed(items[from:]), from > 0, nil
}

func reversed(s []obj) []obj {
	out := make([]obj, len(s))
	for i, o := range s {
		out[len(s)-1-i] = o
	}
	return out
}

func listBody(url string, data []any, hasMore bool) obj {
	if data == nil {
		data = []any{}
	}
	return obj{"object": "list", "url": url, "has_more": hasMore, "data": data}
}

// diff returns the previous values of the top-level fields that changed
// from before to after, as an event's data.previous_attributes: nested
// objects (metadata, address) list only their changed keys, with null for
// a key that was absent.
func diff(before, after obj) obj {
	prev := obj{}
	for k, b := range before {
		a := after[k]
		if jsonEqual(a, b) {
			continue
		}
		bm, bok := asMap(b)
		am, aok := asMap(a)
		if bok && aok {
			sub := obj{}
			for sk, sv := range bm {
				if !jsonEqual(sv, am[sk]) {
					sub[sk] = sv
				}
			}
			for sk := range am {
				if _, had := bm[sk]; !had {
					sub[sk] = nil
				}
			}
			prev[k] = sub
			continue
		}
		prev[k] = b
	}
	return prev
}

func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m, true
	}
	return nil, false
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// metadataOf reads an object's metadata as a string map.
func metadataOf(o obj) map[string]string {
	out := map[string]string{}
	switch m := o["metadata"].(type) {
	case map[string]string:
		maps.Copy(out, m)
	case map[string]any:
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// mergeMetadata applies a metadata parameter as Stripe does: keys set to
// "" are removed, metadata="" (nil here) removes every key.
func mergeMetadata(o obj, in map[string]any) {
	v, ok := in["metadata"]
	if !ok {
		return
	}
	m, _ := v.(map[string]string)
	cur := metadataOf(o)
	if m == nil {
		cur = map[string]string{}
	}
	for k, s := range m {
		if s == "" {
			delete(cur, k)
		} else {
			cur[k] = s
		}
	}
	o["metadata"] = cur
}

// intOf reads an integer field whichever way it was stored (int64 live,
// json.Number after a reload).
func intOf(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	return 0
}
