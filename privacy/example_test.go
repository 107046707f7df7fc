package privacy_test

import (
	"fmt"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

func ExampleNewRedactor() {
	// In production the secret comes from DEBUGAI_HMAC_KEY or the key file
	// (privacy.LoadKeyRing); a fixed secret and clock keep the output stable.
	now := func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
	ring, err := privacy.NewKeyRing([]byte("an example secret, 32 bytes long"), privacy.KeyConfig{}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := privacy.NewRedactor(privacy.DefaultConfig(), ring)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := privacy.NewCounts() // one per batch

	fmt.Println(r.SpanName(c, privacy.SourceSpan, "GET /orders/123"))
	v, _ := r.Attribute(c, privacy.SourceSpan, "url.full", evidence.StringValue("https://shop.example.com/orders/123?coupon=X"))
	fmt.Println(v.Str)
	v, _ = r.Attribute(c, privacy.SourceSpan, "thread.name", evidence.StringValue("paged bob@example.com"))
	fmt.Println(v.Str)
	_, kept := r.Attribute(c, privacy.SourceSpan, "http.request.header.cookie", evidence.StringValue("sid=abc"))
	fmt.Println(kept)
	fp, id := r.SQL(c, privacy.SourceSpan, "db.query.text", "select * from orders where id = 42")
	fmt.Println(fp, len(id))
	fmt.Println(r.Message(c, privacy.SourceSpan, "exception.message", "order 12345 not found for 'alice'"))
	for _, e := range c.Entries() {
		fmt.Println(e.Source, e.Key, e.Action, e.Count)
	}
	// Output:
	// GET /orders/{id}
	// /orders/{id}
	// paged {email}
	// false
	// SELECT * FROM orders WHERE id = ? 16
	// order {num} not found for '{str}'
	// span db.query.text normalize 1
	// span exception.message normalize 1
	// span http.request.header.cookie drop 1
	// span span.name normalize 1
	// span thread.name redact 1
	// span url.full normalize 1
}
