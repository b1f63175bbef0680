package billsync

import "testing"

// Replay ids are bytes; CometD's integers and the presets are their
// 8 big-endian bytes, which is how the schema migration converted the
// integer checkpoints stored before.
func TestReplayID(t *testing.T) {
	for _, tc := range []struct {
		id     ReplayID
		bytes  []byte
		n      int64
		isInt  bool
		string string
	}{
		{ReplayInt(4242), []byte{0, 0, 0, 0, 0, 0, 0x10, 0x92}, 4242, true, "4242"},
		{ReplayAll, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, -2, true, "-2"},
		{ReplayNew, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, -1, true, "-1"},
		{ReplayID{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}, []byte{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}, 0, false, "0x000000000010db4d0000"},
	} {
		if string(tc.id) != string(tc.bytes) {
			t.Errorf("%s: bytes %x, want %x", tc.string, []byte(tc.id), tc.bytes)
		}
		if n, ok := tc.id.Int(); ok != tc.isInt || n != tc.n {
			t.Errorf("%s: Int() = %d, %v", tc.string, n, ok)
		}
		if got := tc.id.String(); got != tc.string {
			t.Errorf("String() = %q, want %q", got, tc.string)
		}
	}
	if !ReplayAll.IsAll() || ReplayAll.IsNew() || !ReplayNew.IsNew() || ReplayInt(7).IsAll() {
		t.Error("presets misreported")
	}
}
