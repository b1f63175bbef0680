package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		spec string
		want Config
	}{
		{"", Config{Rules: []Rule{}}},
		{" ; ;", Config{Rules: []Rule{}}},
		{"sf500:rate=0.05,status=503,code=SERVER_UNAVAILABLE", Config{Rules: []Rule{
			{Name: "sf500", Rate: 0.05, Status: 503, Code: "SERVER_UNAVAILABLE"}}}},
		{"lock:rate=0.02,status=400,code=UNABLE_TO_LOCK_ROW,path=/services/data/", Config{Rules: []Rule{
			{Name: "lock", Rate: 0.02, Status: 400, Code: "UNABLE_TO_LOCK_ROW", Path: "/services/data/"}}}},
		{"slow:latency=50ms,jitter=20ms", Config{Rules: []Rule{
			{Name: "slow", Rate: 1, Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}}}},
		{"drop:rate=0.01,drop", Config{Rules: []Rule{{Name: "drop", Rate: 0.01, Drop: true}}}},
		{"expire:rate=0.001,hook=expire_tokens", Config{Rules: []Rule{{Name: "expire", Rate: 0.001, Hook: "expire_tokens"}}}},
		// A well-known code implies its status; a percentage is a rate.
		{"limit:rate=5%,code=REQUEST_LIMIT_EXCEEDED,method=post", Config{Rules: []Rule{
			{Name: "limit", Rate: 0.05, Status: 403, Code: "REQUEST_LIMIT_EXCEEDED", Method: "POST"}}}},
		{"ghost: status=502 , after ,msg=lost%2C then%3B found", Config{Rules: []Rule{
			{Name: "ghost", Rate: 1, Status: 502, After: After, Message: "lost, then; found"}}}},
		{"seed=42;gone:drop=true,after=after", Config{Seed: 42, Rules: []Rule{{Name: "gone", Rate: 1, Drop: true, After: After}}}},
		{"h:hook=drop_streams,before", Config{Rules: []Rule{{Name: "h", Rate: 1, Hook: "drop_streams", After: Before}}}},
	} {
		got, err := Parse(c.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.spec, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", c.spec, diff)
		}
		// Spec renders what Parse reads back.
		again, err := Parse(got.Spec())
		if err != nil {
			t.Errorf("Parse(Spec()) of %q = %q: %v", c.spec, got.Spec(), err)
		} else if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("round trip of %q via %q (-want +got):\n%s", c.spec, got.Spec(), diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"x:rate=abc,status=500", `item 1 "x:rate=abc,status=500": rate=abc: not a number`},
		{"x:rate=1.5,status=500", "rate 1.5 is not between 0 and 1"},
		{"x:rate=-1%,status=500", "is not between 0 and 1"},
		{"ok:status=500;bad:status=abc", `item 2 "bad:status=abc": status=abc: not an integer`},
		{"x:status=200", "status 200 is not an error status"},
		{"x:status=600", "status 600 is not an error status"},
		{"x:code=MY_ERROR", `code "MY_ERROR" needs a status`},
		{"x:msg=oops", "message needs a status"},
		{"x:latency=fast", "latency=fast: time: invalid duration"},
		{"x:latency=-5ms", "must not be negative"},
		{"x:jitter=5ms", "jitter needs a latency"},
		{"x:drop=maybe", "drop=maybe: want true or false"},
		{"x:drop,status=500", "drop answers nothing"},
		{"x:after=later,status=500", `after is "later"`},
		{"x:after,latency=5ms", "after needs a status or drop"},
		{"x:rate=0.5", "does nothing"},
		{"x", "does nothing"},
		{"x:colour=red", "colour=red: unknown parameter"},
		{"x:status", `parameter "status" needs a value`},
		{"x:status=500,status=503", `parameter "status" is given twice`},
		{"x:path=services/data,status=500", `path "services/data" must start with /`},
		{"x:path=/_emulator/faults,status=500", "never faulted"},
		{"x:method=FETCH,status=500", `method "FETCH" is not an HTTP method`},
		{"x:msg=100%zz,status=500", "bad escape"},
		{"bad name:status=500", `name "bad name"`},
		{":status=500", `name ""`},
		{"a:status=500;a:status=503", `name "a" is used twice`},
		{"seed=x", "seed must be given once"},
		{"seed=1;seed=2", "seed must be given once"},
	} {
		_, err := Parse(c.spec)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error containing %q", c.spec, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", c.spec, err, c.want)
		}
		if billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("Parse(%q) error code %q, want %q", c.spec, billsync.ErrorCode(err), billsync.EINVALID)
		}
	}
}

func TestValidateHooks(t *testing.T) {
	cfg, err := Parse("e:hook=expire_tokens")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(map[string]func(){HookExpireTokens: func() {}}); err != nil {
		t.Errorf("known hook: %v", err)
	}
	_, err = cfg.Validate(map[string]func(){HookDropStreams: func() {}})
	if err == nil || !strings.Contains(err.Error(), `no hook "expire_tokens" (have drop_streams)`) {
		t.Errorf("unknown hook: %v", err)
	}
}
