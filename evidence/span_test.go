package evidence

import "testing"

func TestHandedOffFrom(t *testing.T) {
	parent := Span{Kind: KindProducer, StartNS: 0, EndNS: 10}
	for _, tc := range []struct {
		name  string
		child Span
		want  bool
	}{
		{"consumer under a producer", Span{Kind: KindConsumer, StartNS: 5, EndNS: 50}, true},
		{"starts after its parent ended", Span{Kind: KindInternal, StartNS: 10, EndNS: 20}, true},
		{"inside its parent", Span{Kind: KindClient, StartNS: 2, EndNS: 8}, false},
	} {
		if got := tc.child.HandedOffFrom(&parent); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	server := Span{Kind: KindServer, StartNS: 0, EndNS: 10}
	if c := (Span{Kind: KindConsumer, StartNS: 1, EndNS: 5}); c.HandedOffFrom(&server) {
		t.Error("a consumer inside a server span that is no producer was handed off")
	}
}
