package billsync

import "testing"

// B2, E1: an account's records share its partition; a quote has its own.
func TestPartitionOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		obj     ObjectType
		data    Entity
		want    string
		invalid bool
	}{
		{ObjectAccount, Entity{"id": "acc_1"}, "account:acc_1", false},
		{ObjectBalance, Entity{"id": "bal_1", "accountId": "acc_1"}, "account:acc_1", false},
		{ObjectBalanceTransaction, Entity{"id": "btx_1", "accountId": "acc_1"}, "account:acc_1", false},
		{ObjectQuote, Entity{"id": "q_1", "accountId": "acc_1"}, "quote:q_1", false},
		{ObjectBalance, Entity{"id": "bal_1"}, "", true},
		{ObjectType("invoice"), Entity{"id": "inv_1"}, "", true},
	} {
		got, err := PartitionOf(tc.obj, tc.data)
		if tc.invalid {
			if ErrorCode(err) != EINVALID {
				t.Errorf("%s %v: err %v, want invalid", tc.obj, tc.data, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %v = %q, %v; want %q", tc.obj, tc.data, got, err, tc.want)
		}
	}
}
