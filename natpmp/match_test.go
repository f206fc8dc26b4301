package natpmp

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	mapTCP := Request{Op: OpMapTCP, InternalPort: 22002, SuggestedExternalPort: 28174, Lifetime: 3600}
	tests := []struct {
		name string
		req  Request
		resp Response
		want matchResult
	}{
		{"external address", Request{Op: 0}, Response{Op: 128}, matched},
		{"map", mapTCP, Response{Op: 130, InternalPort: 22002, Lifetime: 3600}, matched},
		// A late reply to an earlier deletion (lifetime 0) of the same
		// port is not the answer to a mapping request, nor the reverse.
		{"deletion reply to map", mapTCP, Response{Op: 130, InternalPort: 22002}, noMatch},
		{"map reply to deletion", Request{Op: OpMapTCP, InternalPort: 22002}, Response{Op: 130, InternalPort: 22002, Lifetime: 3600}, noMatch},
		{"map other protocol", mapTCP, Response{Op: 129, InternalPort: 22002}, noMatch},
		{"map other port", mapTCP, Response{Op: 130, InternalPort: 22003}, noMatch},
		{"truncated ports (miniupnpd 1.8)", mapTCP, Response{Op: 130, InternalPort: 242, ExternalPort: 14, Lifetime: 3600}, matchedTruncated},
		{"low port cannot be truncated", Request{Op: OpMapTCP, InternalPort: 80}, Response{Op: 130, InternalPort: 0}, noMatch},
		{"short error to map", mapTCP, Response{Op: 130, Result: 3, Short: true}, matched},
		{"unsupported version op 0", mapTCP, Response{Op: 0, Result: 1, Short: true}, matched},
		{"unsupported version op 128", mapTCP, Response{Op: 128, Result: 1, Short: true}, matched},
		{"short other error op 128 to map", mapTCP, Response{Op: 128, Result: 3, Short: true}, noMatch},
		{"delete all", Request{Op: OpMapUDP}, Response{Op: 129}, matched},
	}
	for _, tt := range tests {
		if got := match(tt.req, tt.resp); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTruncatedPortsQuirk(t *testing.T) {
	// miniupnpd 1.8.20140523 answers with the ports cut to their low byte.
	truncating := func(req Request, raw []byte) [][]byte {
		return [][]byte{mustMarshal(t, Response{Op: req.Op | OpReply, Epoch: 1,
			InternalPort: req.InternalPort & 0xff, ExternalPort: req.SuggestedExternalPort & 0xff, Lifetime: req.Lifetime})}
	}
	g := newFakeGateway(t, truncating)
	g.start()
	c, err := NewClient(g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	m, err := c.Map(ctx, TCP, 22002, 28174, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalPort != 28174 || m.InternalPort != 22002 {
		t.Fatalf("mapping %+v, want 28174 -> 22002", m)
	}
	if _, err := c.Map(ctx, UDP, 22002, 0, time.Hour); !errors.Is(err, ErrAmbiguousPort) {
		t.Fatalf("no suggestion: error %v, want ErrAmbiguousPort", err)
	}
	if err := c.Delete(ctx, TCP, 22002); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
