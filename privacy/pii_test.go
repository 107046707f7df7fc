package privacy

import "testing"

func TestTextDetectors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// email
		{"contact alice@example.com now", "contact {email} now"},
		{"a.b+tag@sub.example.co.uk", "{email}"},
		{"see user@localhost", "see user@localhost"},
		{"@mention only", "@mention only"},
		// IPv4
		{"from 10.0.0.1:8080", "from {ipv4}:8080"},
		{"peer=192.168.1.254", "peer={ipv4}"},
		{"go1.24.7", "go1.24.7"},
		{"version 1.24.7", "version 1.24.7"},
		{"v1.2.3.4", "v1.2.3.4"},
		{"1.2.3.4.5", "1.2.3.4.5"},
		{"999.1.1.1", "999.1.1.1"},
		// IPv6
		{"addr 2001:db8::8a2e:370:7334 up", "addr {ipv6} up"},
		{"[::1]:443", "[{ipv6}]:443"},
		{"::ffff:10.0.0.1", "{ipv6}"},
		{"at 12:30:45", "at 12:30:45"},
		{"took 12:30:45.123", "took 12:30:45.123"},
		{"2024-01-02T12:30:45Z", "2024-01-02T12:30:45Z"},
		{"std::vector", "std::vector"},
		{"Foo::Bar::Baz", "Foo::Bar::Baz"},
		{"mac aa:bb:cc:dd:ee:ff", "mac aa:bb:cc:dd:ee:ff"},
		// cards
		{"card 4111 1111 1111 1111 ok", "card {card} ok"},
		{"4111-1111-1111-1111", "{card}"},
		{"pan=5500000000000004;", "pan={card};"},
		{"amex 3782 822463 10005", "amex {card}"},
		{"ref 7 4111111111111111", "ref 7 {card}"},
		{"0 0 0 0 0 0 0 0 0 4111 1111 1111 1111 0", "0 0 0 0 0 0 0 0 0 {card} 0"},
		{"1-2-3-4-5-6-7-8-9-1-2-4111-1111-1111-1111", "1-2-3-4-5-6-7-8-9-1-2-{card}"},
		{"4111111111111112", "4111111111111112"},               // Luhn-invalid
		{"4111 1111 1111 1112", "4111 1111 1111 1112"},         // Luhn-invalid
		{"ts 1700000000123456789", "ts 1700000000123456789"},   // ns timestamp, issuer digit 1
		{"id 9111111111111111111", "id 9111111111111111111"},   // not an issuer digit
		{"41111111111111111111111", "41111111111111111111111"}, // too long
		{"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
		{"4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555"},
		// JWT
		{"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc-_def end", "t={jwt} end"},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "{jwt}"},
		{"eyJ alone", "eyJ alone"},
		// credentials
		{"Authorization: Bearer abc123def456", "Authorization: {credential}"},
		{"bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.x", "bearer {jwt}"},
		{"Basic dXNlcjpwYXNz", "Basic {credential}"},
		{"Basic authentication failed", "Basic authentication failed"},
		{"password=hunter2&x=1", "password={credential}&x=1"},
		{`{"api_key": "k-123"}`, `{"api_key": "{credential}"}`},
		{"https://bob:s3cret@git.example.com/r.git", "https://{credential}@git.example.com/r.git"},
		// cloud keys
		{"key AKIAIOSFODNN7EXAMPLE", "key {cloud_key}"},
		{"ASIAY34FZKBOKMUTVV7A", "{cloud_key}"},
		{"AIzaSyA-1234567890abcdefghijklmnopqrstu", "{cloud_key}"},
		{"OPENAI=sk-proj-abcdefghijklmnopqrstuvwxyz", "OPENAI={cloud_key}"},
		{"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "{cloud_key}"},
		{"disk-usage-abcdefghijklmnopqrstuvwxyz", "disk-usage-abcdefghijklmnopqrstuvwxyz"},
		{"task-runner", "task-runner"},
		// phones
		{"call +1 (555) 123-4567", "call {phone}"},
		{"+44 20 7946 0958", "{phone}"},
		{"+4915112345678", "{phone}"},
		{"555-123-4567", "{phone}"},
		{"(555) 123-4567", "{phone}"},
		{"1-555-123-4567", "{phone}"},
		{"020 7946 0958", "{phone}"},
		{"06 12 34 56 78", "{phone}"},
		{"2024-01-02", "2024-01-02"},
		{"01.02.2024 12:30", "01.02.2024 12:30"},
		{"port 8080", "port 8080"},
		{"+05:30", "+05:30"},
		{"+1.24.7", "+1.24.7"},
		{"5551234567", "5551234567"},
		{"took 1500ms", "took 1500ms"},
		{"HTTP/1.1 200", "HTTP/1.1 200"},
		{"retries 3 4 5", "retries 3 4 5"},
		// nothing
		{"", ""},
		{"GET /orders/{id}", "GET /orders/{id}"},
	} {
		got, changed := redactPII(tc.in)
		if got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if changed != (tc.in != tc.want) {
			t.Errorf("Text(%q) changed = %v", tc.in, changed)
		}
		if again, _ := redactPII(got); again != got {
			t.Errorf("Text not idempotent on %q: %q", got, again)
		}
	}
}

func TestTextNoAllocWhenClean(t *testing.T) {
	s := "GET /api/v2/users/{id} served by checkout-7d9f 1.24.7 in 12:30:45"
	if n := testing.AllocsPerRun(100, func() {
		if out, _ := redactPII(s); out != s {
			t.Fatal("changed")
		}
	}); n != 0 {
		t.Errorf("%v allocs for a clean string, want 0", n)
	}
}
