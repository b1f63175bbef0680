package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBenchOptions(t *testing.T) {
	o := DefaultOptions()
	o.ApplyQuick(func(flag string) bool { return flag == "records" })
	if o.Records != 1000 || o.Rate != 200 || len(o.Backlog) != 2 {
		t.Errorf("--quick overrode a set flag or missed an unset one: %+v", o)
	}
	o = DefaultOptions()
	o.Backlog = []int{100, 10}
	o.Skip = []string{"nope"}
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "ascend") || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("validate: %v", err)
	}
	o = DefaultOptions()
	o.Billing = "zuora"
	o.StripeRate = 100
	err = o.Validate()
	if err == nil || !strings.Contains(err.Error(), `--billing "zuora"`) || !strings.Contains(err.Error(), "--stripe-rate needs --billing stripe") {
		t.Errorf("validate: %v", err)
	}
	o.Billing = "stripe"
	if err := o.Validate(); err != nil {
		t.Errorf("--billing stripe --stripe-rate 100: %v", err)
	}
	// The contract's own workloads do not run with Stripe.
	if o.runs("ingest") || o.runs("backlog") || !o.runs("burst") || !o.runs("latency") || !o.runs("realistic") {
		t.Error("with Stripe, want burst, latency and realistic only")
	}
	o = DefaultOptions()
	o.M3terRate = 50
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--m3ter-rate needs --billing m3ter") {
		t.Errorf("--m3ter-rate without --billing m3ter: %v", err)
	}
	o.Billing = "m3ter"
	if err := o.Validate(); err != nil {
		t.Errorf("--billing m3ter --m3ter-rate 50: %v", err)
	}
	if o.runs("ingest") || o.runs("backlog") || !o.runs("burst") || !o.runs("latency") || !o.runs("realistic") {
		t.Error("with m3ter, want burst, latency and realistic only")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

func TestProcField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(path, []byte("Name:\tbillsync\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	peak, cur := procMemory(path)
	if peak != 40960*1024 || cur != 20480*1024 {
		t.Errorf("procMemory = %d, %d", peak, cur)
	}
	if _, ok := procField(path, "VmSwap"); ok {
		t.Error("found a field that is not there")
	}
}

func TestShapeChanges(t *testing.T) {
	// The shape: 13 records an account, written 3 times.
	if got := DefaultOptions().Shape.Changes(); got != 100*13*3 {
		t.Errorf("default shape writes %d changes, want %d", got, 100*13*3)
	}
	if got := (Shape{Accounts: 3, Balances: 1, Transactions: 2, Rounds: 1}).Changes(); got != 24 {
		t.Errorf("small shape writes %d changes, want 24", got)
	}
}

func TestProcCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	// utime 250 and stime 50 ticks; the command name holds a space and a parenthesis.
	stat := "4242 (bill sync)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 100"
	if err := os.WriteFile(path, []byte(stat), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, ok := procCPU(path); !ok || d != 3*time.Second {
		t.Errorf("procCPU = %v, %v; want 3s", d, ok)
	}
	if _, ok := procCPU(filepath.Join(t.TempDir(), "missing")); ok {
		t.Error("read CPU from a file that is not there")
	}
	if d, ok := procCPU("/proc/self/stat"); ok && d < 0 {
		t.Errorf("own CPU %v", d)
	}
}
