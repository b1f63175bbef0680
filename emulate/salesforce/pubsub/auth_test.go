package pubsub

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// TestTenantID: the tenantid header may name the org by its 18- or its
// 15-character id (the npm client takes the latter from the access token
// when no org id is configured; the server once refused it); another
// org's id, or a shortened one of any other length, is refused.
func TestTenantID(t *testing.T) {
	r := newRig(t)
	org := r.em.OrgID()
	other := "00D000000000001AAA"
	if org == other {
		other = "00D000000000002AAA"
	}
	cases := []struct {
		tenant string
		ok     bool
	}{
		{org, true},
		{org[:15], true},
		{other, false},
		{other[:15], false},
		{org[:14], false},
		{"", false},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		ctx = metadata.AppendToOutgoingContext(ctx, "accesstoken", r.tok, "instanceurl", "https://emulated.my.salesforce.com", "tenantid", c.tenant)
		var tr metadata.MD
		_, err := r.api.GetTopic(ctx, &pb.TopicRequest{TopicName: topic}, grpc.Trailer(&tr))
		cancel()
		switch {
		case c.ok && err != nil:
			t.Errorf("tenantid %q: %v", c.tenant, err)
		case !c.ok && (status.Code(err) != codes.Unauthenticated || len(tr.Get("error-code")) != 1 || tr.Get("error-code")[0] != CodeAuth):
			t.Errorf("tenantid %q: %v, trailer %v; want the auth error", c.tenant, err, tr)
		}
	}
}
