package salesforce

import "testing"

func TestJavaDouble(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0.0", "10": "10.0", "12.35": "12.35", "-0.01": "-0.01", "0.001": "0.001", "0.0001": "1.0E-4",
		"9999999.99": "9999999.99", "10000000": "1.0E7", "12345678.90": "1.23456789E7", "-139000000": "-1.39E8",
	} {
		if got := javaDouble(in); got != want {
			t.Errorf("javaDouble(%s) = %s, want %s", in, got, want)
		}
	}
}
