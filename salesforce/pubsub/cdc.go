package pubsub

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Change Data Capture over the Pub/Sub API. A change event's header names
// the fields an update touched in three lists, changedFields, nulledFields
// and diffFields; over CometD they hold field names, over Pub/Sub bitmaps
// over the positions of the event's own Avro schema (Salesforce's "Event
// Deserialization Considerations", and the bitmap decoders of
// forcedotcom/pub-sub-api: java/…/utility/EventParser.java and
// python/util/ChangeEventHeaderUtility.py):
//
//   - the first element, "0x…", is a hexadecimal number whose bit i
//     (counted from the least significant) stands for the schema's field i,
//     ChangeEventHeader itself being field 0;
//   - each further element, "{pos}-0x…", is a bitmap over the sub-fields of
//     the compound field (an address, a name) at position pos, named
//     "Parent.Child".
//
// The positions belong to the schema the event was written with (its
// schema id), never the topic's current one, so decoding happens where the
// payload is decoded. The subscriber hands the listener the CometD shape:
// field names in the header, and a body holding only changed fields (with
// explicit nulls), since over Pub/Sub every unchanged field is sent null.

// changeEventHeader is the field a change event starts with.
const changeEventHeader = "ChangeEventHeader"

// bitmapLists are the header fields Pub/Sub sends as bitmaps.
var bitmapLists = []string{"changedFields", "nulledFields", "diffFields"}

// FieldNames expands a change event header's bitmap list (changedFields,
// nulledFields or diffFields as Pub/Sub sends them) into field names, using
// the schema the event was written with: top-level fields by their name,
// a compound field's parts as "Parent.Child". Elements already holding
// names pass through, so a list that is not a bitmap is left as it is.
func FieldNames(schema avro.Schema, bitmaps []string) ([]string, error) {
	rec, ok := schema.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("pubsub: change event schema is a %s, not a record", schema.Type())
	}
	var out []string
	for i, b := range bitmaps {
		switch pos, hex, nested := strings.Cut(b, "-"); {
		case i == 0 && strings.HasPrefix(b, "0x"):
			names, err := bitNames(rec, b)
			if err != nil {
				return nil, err
			}
			out = append(out, names...)
		case nested && strings.HasPrefix(hex, "0x"):
			n, err := strconv.Atoi(pos)
			if err != nil || n < 0 || n >= len(rec.Fields()) {
				return nil, fmt.Errorf("pubsub: bitmap %q names no field of %s", b, rec.FullName())
			}
			parent := rec.Fields()[n]
			child := compound(parent.Type())
			if child == nil {
				return nil, fmt.Errorf("pubsub: bitmap %q: field %s is not a compound field", b, parent.Name())
			}
			names, err := bitNames(child, hex)
			if err != nil {
				return nil, err
			}
			for _, c := range names {
				out = append(out, parent.Name()+"."+c)
			}
		default:
			out = append(out, b) // already a name (a CometD-style list)
		}
	}
	return out, nil
}

// bitNames are the names of the fields of rec whose bits are set in hex.
func bitNames(rec *avro.RecordSchema, hex string) ([]string, error) {
	var n big.Int
	if _, ok := n.SetString(strings.TrimPrefix(hex, "0x"), 16); !ok {
		return nil, fmt.Errorf("pubsub: %q is not a hexadecimal bitmap", hex)
	}
	fields := rec.Fields()
	if n.BitLen() > len(fields) {
		return nil, fmt.Errorf("pubsub: bitmap %s sets bit %d, but %s has %d fields", hex, n.BitLen()-1, rec.FullName(), len(fields))
	}
	var out []string
	for i, f := range fields {
		if n.Bit(i) == 1 {
			out = append(out, f.Name())
		}
	}
	return out, nil
}

// compound is the record type of a compound field: the field's own type,
// or the record branch of its union (["null", Address], and the
// ["string", PersonName] and ["null", "string", PersonName] forms of a
// switchable person name); nil for any other field.
func compound(s avro.Schema) *avro.RecordSchema {
	switch t := s.(type) {
	case *avro.RecordSchema:
		return t
	case *avro.UnionSchema:
		for _, branch := range t.Types() {
			if r, ok := branch.(*avro.RecordSchema); ok {
				return r
			}
		}
	}
	return nil
}

// errNotChangeEvent marks a payload without a ChangeEventHeader record.
var errNotChangeEvent = errors.New("pubsub: not a change event")

// changeEvent rewrites a decoded change event into the shape CometD
// delivers: the header's bitmaps as field names, and a body holding only
// the fields the event changed (a field set to null kept as an explicit
// null), a compound field as a map of its changed parts. CREATE and
// UNDELETE name no changed fields over Pub/Sub but carry every value set,
// so for them every non-null field is kept. A bitmap that does not fit
// the schema is an error: the caller then treats the event as naming no
// fields, which makes the listener read the whole record.
func changeEvent(schema avro.Schema, payload map[string]any) error {
	header, ok := payload[changeEventHeader].(map[string]any)
	rec, isRec := schema.(*avro.RecordSchema)
	if !ok || !isRec {
		return errNotChangeEvent
	}
	var firstErr error
	named := map[string][]string{}
	for _, list := range bitmapLists {
		raw, present := header[list]
		if !present {
			continue
		}
		names, err := FieldNames(schema, stringsOf(raw))
		if err != nil {
			firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", list, err))
			names = nil
		}
		named[list] = names
		header[list] = anyList(names)
	}
	nulled := set(named["nulledFields"])
	for _, f := range rec.Fields() {
		name := f.Name()
		if name == changeEventHeader {
			continue
		}
		v, ok := payload[name]
		if !ok {
			continue
		}
		if compound(f.Type()) != nil {
			v = unwrapUnion(v)
		}
		switch m, isMap := v.(map[string]any); {
		case v == nil && nulled[name]:
			payload[name] = nil
		case v == nil && nulledParts(nulled, name) != nil:
			payload[name] = nulledParts(nulled, name)
		case v == nil:
			delete(payload, name) // unchanged: Pub/Sub sends null, CometD nothing
		case isMap:
			keep := map[string]any{}
			for k, sub := range m {
				if sub != nil || nulled[name+"."+k] {
					keep[k] = sub
				}
			}
			payload[name] = keep
		}
	}
	return firstErr
}

// unwrapUnion takes a record out of the {"full.Name": {…}} form a
// union branch decodes to.
func unwrapUnion(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	for k, inner := range m {
		if im, ok := inner.(map[string]any); ok && strings.Contains(k, ".") {
			return im
		}
	}
	return v
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func anyList(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// nulledParts is the explicit nulls of a compound field whose parts were all
// set to null (its value is null as a whole); nil when none was.
func nulledParts(nulled map[string]bool, parent string) map[string]any {
	var out map[string]any
	for n := range nulled {
		if sub, ok := strings.CutPrefix(n, parent+"."); ok {
			if out == nil {
				out = map[string]any{}
			}
			out[sub] = nil
		}
	}
	return out
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
