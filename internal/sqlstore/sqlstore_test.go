package sqlstore

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/billsync/billsync"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 62} {
		got, err := DecodeCursor(EncodeCursor(id))
		if err != nil || got != id {
			t.Errorf("DecodeCursor(EncodeCursor(%d)) = %d, %v", id, got, err)
		}
	}
	for _, c := range []string{"x", "djEuMA", "djEuLTE", "djIuNQ", "!!"} { // "v1.0", "v1.-1", "v2.5"
		if _, err := DecodeCursor(c); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("DecodeCursor(%q) = %v, want EINVALID", c, err)
		}
	}
}

func TestClampLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{{-1, 100}, {0, 100}, {1, 1}, {1000, 1000}, {1001, 1000}} {
		if got := ClampLimit(c.in, DefaultLimit, MaxLimit); got != c.want {
			t.Errorf("ClampLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestLogQuery(t *testing.T) {
	since := time.Unix(5, 0)
	q, args, limit, err := LogQuery(billsync.LogFilter{
		Since: since, Object: "account", Record: "acc_1", Outcome: "failed", Limit: 10, Cursor: EncodeCursor(7),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT ` + LogColumns + ` FROM sync_log WHERE id < $1 AND at >= $2 AND object = $3 AND (billing_id = $4 OR salesforce_id = $4) AND outcome = $5 ORDER BY id DESC LIMIT $6`
	if q != want || limit != 10 {
		t.Errorf("query = %q, limit %d\nwant    %q", q, limit, want)
	}
	if wantArgs := []any{int64(7), since.UnixNano(), "account", "acc_1", "failed", 11}; !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args = %#v, want %#v", args, wantArgs)
	}

	q, args, limit, err = LogQuery(billsync.LogFilter{})
	if err != nil || q != `SELECT `+LogColumns+` FROM sync_log ORDER BY id DESC LIMIT $1` || limit != 100 || !reflect.DeepEqual(args, []any{101}) {
		t.Errorf("empty filter: %q %v %d %v", q, args, limit, err)
	}
	if _, _, _, err := LogQuery(billsync.LogFilter{Cursor: "nope"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestConflictQuery(t *testing.T) {
	q, args, _, err := ConflictQuery(billsync.ConflictFilter{Status: billsync.ConflictHeld, Record: "001A"})
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT ` + ConflictColumns + ` FROM conflicts WHERE status = $1 AND (billing_id = $2 OR salesforce_id = $2) ORDER BY id DESC LIMIT $3`
	if q != want || !reflect.DeepEqual(args, []any{"held", "001A", 101}) {
		t.Errorf("query = %q %v", q, args)
	}
	if _, _, _, err := ConflictQuery(billsync.ConflictFilter{Status: "open"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad status: %v", err)
	}
}

func TestNextPage(t *testing.T) {
	id := func(e *billsync.LogEntry) int64 { return e.ID }
	rows := []billsync.LogEntry{{ID: 9}, {ID: 8}, {ID: 7}}
	page, next := NextPage(rows, 2, id)
	if len(page) != 2 || next != EncodeCursor(8) {
		t.Errorf("full page: %d rows, next %q", len(page), next)
	}
	page, next = NextPage(rows, 3, id)
	if len(page) != 3 || next != "" {
		t.Errorf("last page: %d rows, next %q", len(page), next)
	}
}

func TestTimes(t *testing.T) {
	if NanosOrNull(time.Time{}) != nil || !TimeFromNanos(nil).IsZero() {
		t.Error("the zero time is not NULL")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	n, _ := NanosOrNull(at).(int64)
	if got := TimeFromNanos(&n); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("round trip = %v", got)
	}
}

func TestConflictArgs(t *testing.T) {
	now := time.Unix(100, 0)
	c := &billsync.Conflict{Object: "account", BillingID: "acc_1", Status: billsync.ConflictHeld}
	args, err := ConflictArgs(c, func() time.Time { return now })
	if err != nil || len(args) != 14 || args[4] != "[]" || !c.Time.Equal(now) {
		t.Errorf("args = %v, %v; time %v", args, err, c.Time)
	}
	for _, bad := range []*billsync.Conflict{
		nil,
		{Object: "account", BillingID: "acc_1", Status: "open"},
		{Object: "account", BillingID: "acc_1", Status: billsync.ConflictResolved, Winner: "nobody"},
	} {
		if _, err := ConflictArgs(bad, time.Now); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("ConflictArgs(%+v) = %v", bad, err)
		}
	}
}

func TestThrottle(t *testing.T) {
	var th Throttle
	t0 := time.Unix(1000, 0)
	if !th.Due(t0, time.Minute) || th.Due(t0.Add(59*time.Second), time.Minute) || !th.Due(t0.Add(time.Minute), time.Minute) {
		t.Error("not once a minute")
	}
	if !th.Due(t0, time.Minute) {
		t.Error("a clock moved back is not due")
	}
}

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
	}
	ms, err := Migrations(fsys, "m/*.sql")
	want := []Migration{{1, "0001_a", "A"}, {2, "0002_b", "B"}}
	if err != nil || !reflect.DeepEqual(ms, want) {
		t.Errorf("Migrations = %v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":    {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"no num": {"m/init.sql": {}},
		"zero":   {"m/0000_a.sql": {}},
		"dup":    {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
	} {
		if _, err := Migrations(fsys, "m/*.sql"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRowsScanNull(t *testing.T) {
	var r ChangeRow
	dest := r.Dest()
	*dest[0].(*int64) = 3
	c := r.Change()
	if c.ID != 3 || !c.OccurredAt.IsZero() || c.Payload != nil {
		t.Errorf("change = %+v", c)
	}
	var cr ConflictRow
	for _, d := range cr.Dest() {
		if d == nil {
			t.Fatal("nil destination")
		}
	}
	cr.fields = []byte("not json")
	if _, err := cr.Conflict(); err == nil {
		t.Error("bad fields JSON accepted")
	}
}

// The shared schema renders for each engine with every field filled, and
// a released version's text stays what the engines applied.
func TestSchemaRenders(t *testing.T) {
	for _, ty := range []SchemaTypes{
		{Identity: "INTEGER PRIMARY KEY AUTOINCREMENT", Int64: "INTEGER", Int32: "INTEGER", Text: "TEXT", Bytes: "BLOB", JSON: "TEXT"},
		{Identity: "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", Int64: "bigint", Int32: "integer", Text: "text", Bytes: "bytea", JSON: "jsonb"},
	} {
		ms, err := Schema(ty)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != LatestSchemaVersion() || len(ms) < 3 {
			t.Fatalf("%d migrations, latest %d", len(ms), LatestSchemaVersion())
		}
		for _, m := range ms {
			if strings.Contains(m.SQL, "{{") || strings.Contains(m.SQL, "<no value>") {
				t.Errorf("%s: unrendered field in %s", m.Name, m.SQL)
			}
		}
		if !strings.Contains(ms[0].SQL, "id            "+ty.Identity+",") {
			t.Errorf("0001: the queue's id is not %q", ty.Identity)
		}
	}
}
