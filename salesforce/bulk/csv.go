package bulk

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// nullValue sets a field to null in ingest CSV; an empty value leaves the
// field as it is.
const nullValue = "#N/A"

// columns lists the CSV header of records: every field any record sets,
// relationship objects flattened to "Rel__r.Field" as Bulk API 2.0 reads
// them, sorted so a load's shape does not depend on map order.
func columns(records []billsync.SObject) []string {
	seen := map[string]bool{}
	for _, r := range records {
		for k, v := range r {
			if k == "attributes" {
				continue
			}
			if sub, ok := v.(map[string]any); ok {
				for sk := range sub {
					if sk != "attributes" {
						seen[k+"."+sk] = true
					}
				}
				continue
			}
			if sub, ok := v.(billsync.SObject); ok {
				for sk := range sub {
					if sk != "attributes" {
						seen[k+"."+sk] = true
					}
				}
				continue
			}
			seen[k] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cell writes one value as ingest CSV wants it: null as #N/A, money and
// numbers from their decimal digits, booleans as true/false.
func cell(r billsync.SObject, col string) (string, error) {
	v, present := any(nil), false
	if rel, field, ok := strings.Cut(col, "."); ok {
		switch sub := r[rel].(type) {
		case map[string]any:
			v, present = sub[field]
		case billsync.SObject:
			v, present = sub[field]
		}
	} else {
		v, present = r[col]
	}
	if !present {
		return "", nil
	}
	switch x := v.(type) {
	case nil:
		return nullValue, nil
	case string:
		if x == "" {
			// An empty cell would leave the field unchanged, not clear it.
			return nullValue, nil
		}
		return x, nil
	case billsync.Money:
		return x.NumberLiteral().String(), nil
	case *billsync.Money:
		if x == nil {
			return nullValue, nil
		}
		return x.NumberLiteral().String(), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case billsync.Date:
		return x.String(), nil
	}
	return "", billsync.Errorf(billsync.EINVALID, "salesforce bulk: field %s: cannot write a %T as CSV", col, v)
}

// encodeRows renders records under header as CSV rows (no header line).
func encodeRows(header []string, records []billsync.SObject) ([][]string, error) {
	rows := make([][]string, len(records))
	for i, r := range records {
		row := make([]string, len(header))
		for j, col := range header {
			s, err := cell(r, col)
			if err != nil {
				return nil, err
			}
			row[j] = s
		}
		rows[i] = row
	}
	return rows, nil
}

// chunk splits rows into CSV documents of at most limit bytes each, every
// one starting with the header. It returns the documents and the index of
// each document's first row.
func chunk(header []string, rows [][]string, limit int, crlf bool) ([][]byte, []int, error) {
	line := func(rec []string) ([]byte, error) {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.UseCRLF = crlf
		if err := w.Write(rec); err != nil {
			return nil, err
		}
		w.Flush()
		return b.Bytes(), w.Error()
	}
	head, err := line(header)
	if err != nil {
		return nil, nil, err
	}
	var docs [][]byte
	var starts []int
	var cur []byte
	for i, rec := range rows {
		l, err := line(rec)
		if err != nil {
			return nil, nil, err
		}
		if len(head)+len(l) > limit {
			return nil, nil, billsync.Errorf(billsync.EINVALID, "salesforce bulk: record %d alone is %d bytes of CSV, over the %d-byte upload limit", i, len(l), limit)
		}
		if cur != nil && len(cur)+len(l) > limit {
			docs = append(docs, cur)
			cur = nil
		}
		if cur == nil {
			cur = append([]byte{}, head...)
			starts = append(starts, i)
		}
		cur = append(cur, l...)
	}
	if cur != nil {
		docs = append(docs, cur)
	}
	return docs, starts, nil
}

// readCSV parses a CSV answer into its header and rows. Salesforce quotes
// every value of a result set; encoding/csv reads both forms.
func readCSV(data []byte) ([]string, [][]string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, nil
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	all, err := r.ReadAll()
	if err != nil {
		return nil, nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 200,
			Message: fmt.Sprintf("unreadable CSV answer: %v", err)}
	}
	if len(all) == 0 {
		return nil, nil, nil
	}
	return all[0], all[1:], nil
}

// toSObject builds a record from a query result row: values stay the
// strings Salesforce wrote (numbers and money keep their decimal digits),
// an empty value is null, and "Rel__r.Field" columns nest under Rel__r as
// a REST query answers them.
func toSObject(object string, header, row []string) billsync.SObject {
	rec := billsync.SObject{"attributes": map[string]any{"type": object}}
	for i, col := range header {
		var v any
		if i < len(row) && row[i] != "" {
			v = row[i]
		}
		rel, field, nested := strings.Cut(col, ".")
		if !nested {
			rec[col] = v
			continue
		}
		sub, _ := rec[rel].(billsync.SObject)
		if sub == nil {
			sub = billsync.SObject{}
			rec[rel] = sub
		}
		sub[field] = v
	}
	// A parent that is absent reads as a null relationship, not as an
	// object of nulls, as in REST answers.
	for k, v := range rec {
		if sub, ok := v.(billsync.SObject); ok && allNil(sub) {
			rec[k] = nil
		}
	}
	return rec
}

func allNil(m billsync.SObject) bool {
	for _, v := range m {
		if v != nil {
			return false
		}
	}
	return true
}
