package stripe

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// parseForm turns Stripe's bracket syntax (metadata[k]=v, expand[]=x,
// line_items[0][price]=p) into nested values: map[string]any for objects,
// []any for arrays, string for leaves. Keys keep their order of first
// appearance only through the index numbers; Stripe does the same.
func parseForm(vals url.Values, order []string) (map[string]any, *apiError) {
	root := map[string]any{}
	for _, key := range order {
		for _, v := range vals[key] {
			path, ok := splitKey(key)
			if !ok {
				return nil, invalidParam(key, "Invalid parameter name: %s", key)
			}
			if err := insert(root, path, v, key); err != nil {
				return nil, err
			}
		}
	}
	return finishArrays(root).(map[string]any), nil
}

// formOrder lists the distinct keys of a raw form in the order they come.
func formOrder(raw string) []string {
	var keys []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

// splitKey splits "a[b][0][]" into ["a","b","0",""].
func splitKey(key string) ([]string, bool) {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return []string{key}, key != ""
	}
	path := []string{key[:i]}
	rest := key[i:]
	for rest != "" {
		if rest[0] != '[' {
			return nil, false
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return nil, false
		}
		path = append(path, rest[1:j])
		rest = rest[j+1:]
	}
	return path, path[0] != ""
}

// arr collects array elements while parsing: pushed ones ("[]") and
// indexed ones ("[3]"), ordered by index afterwards.
type arr struct {
	indexed map[int]any
	pushed  []any
}

func insert(node map[string]any, path []string, v, full string) *apiError {
	name := path[0]
	if len(path) == 1 {
		if _, dup := node[name]; dup {
			if _, isStr := node[name].(string); !isStr {
				return invalidParam(full, "Invalid parameter: %s is given both as a value and as an object", full)
			}
		}
		node[name] = v
		return nil
	}
	next := path[1]
	if next == "" || isIndex(next) {
		a, _ := node[name].(*arr)
		if a == nil {
			if _, exists := node[name]; exists {
				return invalidParam(full, "Invalid array: %s", full)
			}
			a = &arr{indexed: map[int]any{}}
			node[name] = a
		}
		if next == "" {
			if len(path) > 2 {
				return invalidParam(full, "Invalid array: %s", full)
			}
			a.pushed = append(a.pushed, v)
			return nil
		}
		n, _ := strconv.Atoi(next)
		if len(path) == 2 {
			a.indexed[n] = v
			return nil
		}
		child, _ := a.indexed[n].(map[string]any)
		if child == nil {
			child = map[string]any{}
			a.indexed[n] = child
		}
		return insert(child, path[2:], v, full)
	}
	child, ok := node[name].(map[string]any)
	if !ok {
		if _, exists := node[name]; exists {
			return invalidParam(full, "Invalid object: %s", full)
		}
		child = map[string]any{}
		node[name] = child
	}
	return insert(child, path[1:], v, full)
}

func isIndex(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func finishArrays(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = finishArrays(c)
		}
		return x
	case *arr:
		idx := make([]int, 0, len(x.indexed))
		for i := range x.indexed {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		out := make([]any, 0, len(idx)+len(x.pushed))
		for _, i := range idx {
			out = append(out, finishArrays(x.indexed[i]))
		}
		return append(out, x.pushed...)
	}
	return v
}

// kind is the type of one request parameter.
type kind int

const (
	kStr      kind = iota
	kInt           // integer, e.g. an amount in minor units
	kBool          // "true" / "false"
	kMeta          // metadata: string map, or "" to clear all
	kStrList       // expand[], enabled_events[]
	kObj           // a nested object with known fields
	kObjList       // line_items[i][...]
	kDecimal       // unit_amount_decimal: a decimal string
	kEmptyStr      // a string that may be "" to unset (kept as "")
	kRange         // created=n or created[gt|gte|lt|lte]=n
)

type param struct {
	kind kind
	sub  params   // kObj, kObjList
	enum []string // kStr: allowed values
}

type params map[string]param

var decimalRe = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,12})?$`)

// check validates parsed input against ps and converts leaves: int64,
// bool, map[string]string (metadata; nil means "clear all"), []string,
// map[string]any and []map[string]any. prefix names nested parameters in
// errors as Stripe does ("recurring[interval]").
func check(in map[string]any, ps params, prefix string) (map[string]any, *apiError) {
	out := make(map[string]any, len(in))
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "[" + k + "]"
		}
		p, ok := ps[k]
		if !ok {
			return nil, invalidParam(name, "Received unknown parameter: %s", name)
		}
		v, err := convert(in[k], p, name)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func convert(v any, p param, name string) (any, *apiError) {
	s, isStr := v.(string)
	switch p.kind {
	case kStr, kEmptyStr, kDecimal:
		if !isStr {
			return nil, invalidParam(name, "Invalid string: %s", describe(v))
		}
		if p.kind == kDecimal && !decimalRe.MatchString(s) {
			return nil, invalidParam(name, "Invalid decimal: %s", s)
		}
		if p.enum != nil && !slices.Contains(p.enum, s) {
			return nil, invalidParam(name, "Invalid %s: must be one of %s", name, strings.Join(p.enum, ", "))
		}
		return s, nil
	case kInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if !isStr || err != nil {
			return nil, invalidParam(name, "Invalid integer: %s", describe(v))
		}
		return n, nil
	case kBool:
		if !isStr || s != "true" && s != "false" {
			return nil, invalidParam(name, "Invalid boolean: %s", describe(v))
		}
		return s == "true", nil
	case kMeta:
		if isStr {
			if s != "" {
				return nil, invalidParam(name, "Invalid object")
			}
			return map[string]string(nil), nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidParam(name, "Invalid object")
		}
		out := make(map[string]string, len(m))
		for k, x := range m {
			xs, ok := x.(string)
			if !ok {
				return nil, invalidParam(name+"["+k+"]", "Invalid string: %s", describe(x))
			}
			if len(k) > 40 {
				return nil, invalidParam(name, "Metadata keys can have up to 40 characters")
			}
			if len(xs) > 500 {
				return nil, invalidParam(name+"["+k+"]", "Metadata values can have up to 500 characters")
			}
			out[k] = xs
		}
		return out, nil
	case kStrList:
		l, ok := v.([]any)
		if !ok {
			return nil, invalidParam(name, "Invalid array")
		}
		out := make([]string, 0, len(l))
		for _, x := range l {
			xs, ok := x.(string)
			if !ok {
				return nil, invalidParam(name, "Invalid array")
			}
			if p.enum != nil && !slices.Contains(p.enum, xs) {
				return nil, invalidParam(name, "Invalid %s: %s", name, xs)
			}
			out = append(out, xs)
		}
		return out, nil
	case kRange:
		if isStr {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, invalidParam(name, "Invalid integer: %s", s)
			}
			return map[string]any{"gte": n, "lte": n}, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidParam(name, "Invalid object")
		}
		return check(m, rangeParams, name)
	case kObj:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalidParam(name, "Invalid object")
		}
		return check(m, p.sub, name)
	case kObjList:
		l, ok := v.([]any)
		if !ok {
			return nil, invalidParam(name, "Invalid array")
		}
		out := make([]map[string]any, 0, len(l))
		for i, x := range l {
			m, ok := x.(map[string]any)
			if !ok {
				return nil, invalidParam(fmt.Sprintf("%s[%d]", name, i), "Invalid object")
			}
			c, err := check(m, p.sub, fmt.Sprintf("%s[%d]", name, i))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	return nil, invalidParam(name, "Received unknown parameter: %s", name)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprint(v)
}
