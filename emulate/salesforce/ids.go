package salesforce

import (
	"strings"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// podCode is the two instance characters after the key prefix of every id
// this emulator issues; real ids carry their org's pod there.
const podCode = "5g"

// checksum appends Salesforce's case-safe suffix to a 15-character id: one
// character per block of five, encoding which of the block's characters are
// upper case.
func checksum(id15 string) string {
	const m = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var b strings.Builder
	b.Grow(18)
	b.WriteString(id15)
	for blk := 0; blk < 3; blk++ {
		flags := 0
		for j := 0; j < 5; j++ {
			c := id15[blk*5+j]
			if c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		b.WriteByte(m[flags])
	}
	return b.String()
}

// makeID builds the 18-character id of the n-th record with key prefix.
// The counter is base62 in nine characters, so ids of one prefix sort as
// strings in the order they were issued.
func makeID(prefix string, n int64) string {
	var digits [10]byte
	for i := 9; i >= 0; i-- {
		digits[i] = base62[n%62]
		n /= 62
	}
	return checksum(prefix + podCode + string(digits[:]))
}

// normalizeID turns a 15- or 18-character id into its 18-character form,
// fixing the case of the first 15 characters from an 18-character id's
// suffix as Salesforce does. ok is false for anything that is not an id.
func normalizeID(s string) (string, bool) {
	if len(s) != 15 && len(s) != 18 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	if len(s) == 15 {
		return checksum(s), true
	}
	full := checksum(s[:15])
	if strings.EqualFold(full[15:], s[15:]) {
		return full, true
	}
	// An 18-character id whose suffix does not match: rebuild the case of
	// the first 15 characters from the suffix, as the API does when a
	// client upper- or lower-cased the id.
	const m = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	b := []byte(strings.ToLower(s[:15]))
	for blk := 0; blk < 3; blk++ {
		flags := strings.IndexByte(m, upper(s[15+blk]))
		if flags < 0 {
			return "", false
		}
		for j := 0; j < 5; j++ {
			if flags&(1<<j) != 0 && b[blk*5+j] >= 'a' && b[blk*5+j] <= 'z' {
				b[blk*5+j] -= 'a' - 'A'
			}
		}
	}
	return checksum(string(b)), true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
