package sqlstore

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeAgreed decodes a record's agreed values, a JSON object of strings
// (or null), as json.Unmarshal into a map[string]string does. The engine
// reads them for every change, and encoding/json's reflection was a
// quarter of a sync-state read: so the common shape (no escapes, valid
// UTF-8, as json.Marshal and PostgreSQL's jsonb write it) is read here
// directly, and anything else goes to encoding/json.
func decodeAgreed(data []byte) (map[string]string, error) {
	if m, ok := scanFlatObject(data); ok {
		return m, nil
	}
	var m map[string]string
	err := json.Unmarshal(data, &m)
	return m, err
}

// scanFlatObject reads data as {"k": "v", ...} or null; ok is false for
// anything it does not read exactly as encoding/json would.
func scanFlatObject(data []byte) (m map[string]string, ok bool) {
	i := skipSpace(data, 0)
	if i+4 <= len(data) && string(data[i:i+4]) == "null" {
		return nil, skipSpace(data, i+4) == len(data)
	}
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	m = make(map[string]string, 8)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return m, skipSpace(data, i+1) == len(data)
	}
	for {
		var k, v string
		if k, i, ok = scanString(data, i); !ok {
			return nil, false
		}
		if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
			return nil, false
		}
		if v, i, ok = scanString(data, skipSpace(data, i+1)); !ok {
			return nil, false
		}
		m[k] = v
		if i = skipSpace(data, i); i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return m, skipSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

// scanString reads a string without escapes or control characters at
// data[i:], and returns it and the index after its closing quote.
func scanString(data []byte, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	start := i + 1
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s := data[start:j]
			if !utf8.Valid(s) {
				return "", 0, false
			}
			return string(s), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
