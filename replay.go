package billsync

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// ReplayID is a position in a Salesforce event stream as its transport
// issues it: opaque bytes for the Pub/Sub API (8 bytes in Salesforce's
// samples, 10 seen on real orgs; never computed with), and for CometD its
// integer replay id in 8 big-endian bytes. The checkpoint stores it as
// is, so no transport's position is cut to fit another's.
type ReplayID []byte

// The two positions that are not an event. They are the CometD presets
// -1 and -2 in the integer encoding, so checkpoints stored as integers
// convert to them unchanged; no Pub/Sub replay id starts with 0xff bytes.
var (
	ReplayNew = ReplayInt(-1) // only events published from now on
	ReplayAll = ReplayInt(-2) // every retained event
)

// ReplayInt is an integer replay id (CometD's) as a ReplayID.
func ReplayInt(n int64) ReplayID {
	return binary.BigEndian.AppendUint64(make(ReplayID, 0, 8), uint64(n))
}

// Int is the integer an 8-byte ReplayID encodes; ok is false for any
// other length.
func (r ReplayID) Int() (n int64, ok bool) {
	if len(r) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(r)), true
}

// Equal reports whether r and o are the same position.
func (r ReplayID) Equal(o ReplayID) bool { return bytes.Equal(r, o) }

// IsNew and IsAll report the presets.
func (r ReplayID) IsNew() bool { return r.Equal(ReplayNew) }
func (r ReplayID) IsAll() bool { return r.Equal(ReplayAll) }

// String is the position for logs and event ids: an 8-byte id as its
// integer (as CometD numbers it), anything else in hex.
func (r ReplayID) String() string {
	if n, ok := r.Int(); ok {
		return strconv.FormatInt(n, 10)
	}
	return "0x" + hex.EncodeToString(r)
}
