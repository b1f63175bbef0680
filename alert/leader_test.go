package alert

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeLeases is one lease table shared by replicas, with a clock the test
// moves.
type fakeLeases struct {
	mu     sync.Mutex
	holder string
	until  time.Time
	now    time.Time
}

func (f *fakeLeases) ReleaseLease(_ context.Context, _, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == owner {
		f.holder = ""
	}
	return nil
}

func (f *fakeLeases) TryLease(_ context.Context, _, owner string, ttl time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == owner || f.holder == "" || f.now.After(f.until) {
		f.holder, f.until = owner, f.now.Add(ttl)
	}
	return f.holder == owner, nil
}

type recordSender struct {
	mu   sync.Mutex
	sent []Message
}

func (r *recordSender) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

// Of two replicas, only the lease holder sends a shared alert; each sends
// its own stream alert; when the holder stops renewing, the other takes
// over once the lease runs out.
func TestLeaderSendsSharedAlertsOnce(t *testing.T) {
	ctx := context.Background()
	leases := &fakeLeases{now: time.Unix(0, 0)}
	a, b := NewLeader(leases, "alerts", "a", time.Minute, nil), NewLeader(leases, "alerts", "b", time.Minute, nil)
	ra, rb := &recordSender{}, &recordSender{}
	sa, sb := a.Sender(ra, StreamDown), b.Sender(rb, StreamDown)
	a.Renew(ctx)
	b.Renew(ctx)
	if !a.Leads() || b.Leads() {
		t.Fatalf("a leads %v, b leads %v", a.Leads(), b.Leads())
	}
	held := Message{Alert: ConflictsHeld, State: Firing}
	stream := Message{Alert: StreamDown, State: Firing}
	for _, s := range []Sender{sa, sb} {
		if err := s.Send(ctx, held); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.Send(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if len(ra.sent) != 1 || ra.sent[0].Alert != ConflictsHeld || len(rb.sent) != 1 || rb.sent[0].Alert != StreamDown {
		t.Fatalf("a sent %v, b sent %v", ra.sent, rb.sent)
	}
	// a stops renewing; past its lease, b leads.
	leases.mu.Lock()
	leases.now = leases.now.Add(2 * time.Minute)
	leases.mu.Unlock()
	b.Renew(ctx)
	a.Renew(ctx)
	if a.Leads() || !b.Leads() {
		t.Fatalf("after a lapsed: a leads %v, b leads %v", a.Leads(), b.Leads())
	}
}

// A leader that stops gives the lease up: the other replica leads at
// its next renewal, without waiting for the lease to run out.
func TestLeaderGivesUpOnStop(t *testing.T) {
	leases := &fakeLeases{now: time.Unix(0, 0)}
	a, b := NewLeader(leases, "alerts", "a", time.Hour, nil), NewLeader(leases, "alerts", "b", time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	a.Renew(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	cancel()
	<-done
	b.Renew(context.Background())
	if a.Leads() || !b.Leads() {
		t.Fatalf("after a stopped: a leads %v, b leads %v", a.Leads(), b.Leads())
	}
}
