package privacy

import "testing"

func TestTemplatePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/", "/"},
		{"/orders/123", "/orders/{id}"},
		{"/orders/123/", "/orders/{id}/"},
		{"/v1/traces", "/v1/traces"},
		{"/api/v2/users", "/api/v2/users"},
		{"/api/v2beta1/users", "/api/v2beta1/users"},
		{"/oauth2/sha256/2fa", "/oauth2/sha256/2fa"},
		{"/users/550e8400-e29b-41d4-a716-446655440000/cart", "/users/{uuid}/cart"},
		{"/u/alice@example.com", "/u/{email}"},
		{"/u/alice%40example.com/x", "/u/{email}/x"},
		{"/files/123.json", "/files/{id}.json"},
		{"/commits/a1b2c3d4e5f6", "/commits/{id}"},
		{"/blob/deadbeef", "/blob/deadbeef"},
		{"/t/AbCdEf12Gh", "/t/{id}"},
		{"/s/8fK2mZ91qLx0pQ7vW3yT", "/s/{id}"},
		{"/orders/ORD-20240101-0042", "/orders/{id}"},
		{"/p/how-to-make-bread", "/p/how-to-make-bread"},
		{"/hosts/10.0.0.1/stats", "/hosts/{ipv4}/stats"},
		{"/search?q=alice&page=2", "/search"},
		{"/a/b#frag", "/a/b"},
		{"/cart;jsessionid=ABC123", "/cart"},
		{"//double//slash/42", "//double//slash/{id}"},
		{"/orders/{id}", "/orders/{id}"},
		{"relative/7", "relative/{id}"},
	} {
		got := TemplatePath(tc.in)
		if got != tc.want {
			t.Errorf("TemplatePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := TemplatePath(got); again != got {
			t.Errorf("TemplatePath not idempotent: %q -> %q", got, again)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pw@shop.example.com:8443/orders/123?card=4111111111111111#x", "/orders/{id}"},
		{"http://10.0.0.1", "/"},
		{"http://10.0.0.1?x=1", "/"},
		{"//cdn.example.com/img/42.png", "/img/{id}.png"},
		{"/checkout?email=a@b.c", "/checkout"},
		{"/v1/traces", "/v1/traces"},
	} {
		if got := normalizeURL(tc.in); got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTemplatePathNoAlloc(t *testing.T) {
	p := "/api/v2/users/{id}/orders"
	if n := testing.AllocsPerRun(100, func() { _ = TemplatePath(p) }); n != 0 {
		t.Errorf("%v allocs for a static path", n)
	}
}
