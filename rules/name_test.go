package rules

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuoteName(t *testing.T) {
	tests := []struct {
		name   string
		desc   string
		id     string
		maxLen int
		want   string
	}{
		{"E4 seed: 'The Quote Name is generated using the quote's description and MonetizeNow ID'", "Acme expansion", "Q-1042", 255, "Acme expansion (Q-1042)"},
		{"E4: exactly the field length fits uncut", "Acme", "Q-1", len("Acme (Q-1)"), "Acme (Q-1)"},
		{"E4: 'cut to the field's length' — the description is cut, the id suffix kept whole", "Acme expansion", "Q-1042", 15, "Acme e (Q-1042)"},
		{"E4 decision: a cut that ends on a space drops the space", "Acme expansion", "Q-1042", 14, "Acme (Q-1042)"},
		{"E4 decision: an empty description gives the bare id", "", "Q-1042", 255, "Q-1042"},
		{"E4 decision: a blank description gives the bare id", " \t\n ", "Q-1042", 255, "Q-1042"},
		{"E4 decision: when no description character fits, the bare id", "Acme", "Q-1042", 9, "Q-1042"},
		{"E4 decision: when even the id does not fit, the id is cut", "Acme", "Q-1042-LONG", 6, "Q-1042"},
		{"E4 decision: newlines and runs of spaces become one space (Name is single-line)", "Acme\n  expansion\t2025", "Q-7", 255, "Acme expansion 2025 (Q-7)"},
		{"E4 rune-safe: a multi-byte character is never split", "Ünïcödé ëxpånsïön", "Q-1", 13, "Ünïcödé (Q-1)"},
		{"E4 rune-safe: an emoji counts two characters, as in Salesforce (UTF-16)", "ab😀cd", "Q-1", 9, "ab (Q-1)"},
		{"E4 rune-safe: an emoji that fits is kept whole", "ab😀cd", "Q-1", 10, "ab😀 (Q-1)"},
		{"E4: maxLen 0 means the standard Quote.Name length (255)", strings.Repeat("x", 300), "Q-1", 0, strings.Repeat("x", 249) + " (Q-1)"},
		{"E4 decision: invalid UTF-8 in a description becomes U+FFFD, never a broken name", "Acme\xff", "Q-1", 255, "Acme\uFFFD (Q-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuoteName(tt.desc, tt.id, tt.maxLen)
			if got != tt.want {
				t.Errorf("QuoteName(%q, %q, %d) = %q, want %q", tt.desc, tt.id, tt.maxLen, got, tt.want)
			}
			max := tt.maxLen
			if max <= 0 {
				max = QuoteNameMaxLength
			}
			if n := utf16Len(got); n > max {
				t.Errorf("name is %d UTF-16 units, field holds %d", n, max)
			}
			if !utf8.ValidString(got) {
				t.Errorf("name %q is not valid UTF-8", got)
			}
		})
	}
}

func FuzzQuoteName(f *testing.F) {
	f.Add("Acme expansion", "Q-1042", 20)
	f.Add("ab😀cd\u200d😀", "Q-😀", 5)
	f.Add("", "", 0)
	f.Fuzz(func(t *testing.T, desc, id string, maxLen int) {
		if maxLen > 10000 || maxLen < -10 {
			return
		}
		got := QuoteName(desc, id, maxLen)
		max := maxLen
		if max <= 0 {
			max = QuoteNameMaxLength
		}
		if utf16Len(got) > max {
			t.Fatalf("QuoteName(%q, %q, %d) = %q: too long", desc, id, maxLen, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("QuoteName(%q, %q, %d) = %q: invalid UTF-8", desc, id, maxLen, got)
		}
	})
}
