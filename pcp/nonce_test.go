package pcp

import "testing"

func TestNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if a.IsZero() || a == b {
		t.Fatalf("NewNonce: %v %v", a, b)
	}
	txt, _ := a.MarshalText()
	var back Nonce
	if err := back.UnmarshalText(txt); err != nil || back != a {
		t.Errorf("text round trip: %v %v", back, err)
	}
	for _, bad := range []string{"", "00", "zz0000000000000000000000", "0000000000000000000000000000"} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
	if (Nonce{}).String() != "000000000000000000000000" {
		t.Error("String of zero nonce")
	}
}
