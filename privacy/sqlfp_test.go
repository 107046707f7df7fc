package privacy

import (
	"regexp"
	"testing"
)

func TestFingerprintSQL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"select * from users where id = 5", "SELECT * FROM users WHERE id = ?"},
		{"SELECT *\n\tFROM   users WHERE id=5;", "SELECT * FROM users WHERE id = ?"},
		{"SELECT a FROM t WHERE name = 'O''Brien'", "SELECT a FROM t WHERE name = ?"},
		{`SELECT a FROM t WHERE name = 'It\'s' AND b = 1`, "SELECT a FROM t WHERE name = ? AND b = ?"},
		{"SELECT a FROM t WHERE x IN (1, 2, 3)", "SELECT a FROM t WHERE x IN (?)"},
		{"SELECT a FROM t WHERE x IN ('a','b')", "SELECT a FROM t WHERE x IN (?)"},
		{"SELECT a FROM t WHERE x IN ($1, $2, $3, $4)", "SELECT a FROM t WHERE x IN (?)"},
		{"insert into t (a, b) values (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t(a, b) VALUES (?)"},
		{"SELECT a FROM t -- trailing comment\nWHERE b = 2", "SELECT a FROM t WHERE b = ?"},
		{"SELECT /* hint */ a FROM t # mysql comment", "SELECT a FROM t"},
		{"SELECT a FROM t WHERE b = -5 AND c > -1.5e3 AND d = x - 2", "SELECT a FROM t WHERE b = ? AND c > ? AND d = x - ?"},
		{"SELECT a FROM t WHERE h = 0xFF AND f = 3.14 AND ok = true", "SELECT a FROM t WHERE h = ? AND f = ? AND ok = ?"},
		{"UPDATE t SET a = $1, b = :name, c = @p1, d = %s WHERE e IS NULL", "UPDATE t SET a = ?, b = ?, c = ?, d = ? WHERE e IS NULL"},
		{`SELECT "id", "name" FROM "users" WHERE "email" = "a@b.c"`, `SELECT "id", "name" FROM "users" WHERE "email" = ?`},
		{`SELECT * FROM t WHERE name = "alice"`, `SELECT * FROM t WHERE name = ?`},
		{"SELECT `id` FROM `t`", "SELECT `id` FROM `t`"},
		{"SELECT x::int FROM t WHERE d > now() - interval '1 day'", "SELECT x::int FROM t WHERE d > NOW() - INTERVAL ?"},
		{"SELECT E'a\\nb', X'0F', $tag$body; 'x'$tag$ FROM t", "SELECT ?, ?, ? FROM t"},
		{"SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id", "SELECT COUNT(*) FROM orders o JOIN users u ON u.id = o.user_id"},
		{"HGETALL user:123", "HGETALL ?"},
		{"PING", "PING"},
		{`{"find": "users", "filter": {"email": "a@b.c"}}`, "?"},
		{"", ""},
	} {
		got, id := FingerprintSQL(tc.in)
		if got != tc.want {
			t.Errorf("FingerprintSQL(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if again, id2 := FingerprintSQL(got); again != got || id2 != id {
			t.Errorf("not idempotent: %q -> %q", got, again)
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
			t.Errorf("query id %q is not 16 hex digits", id)
		}
	}
}

func TestFingerprintSQLSameID(t *testing.T) {
	groups := [][]string{
		{
			"SELECT * FROM orders WHERE user_id = 42 AND status IN ('new', 'paid')",
			"select * from orders where user_id = 7 and status in ('shipped')",
			"SELECT * FROM orders WHERE user_id = $1 AND status IN ($2, $3, $4) -- api",
		},
		{
			"INSERT INTO events (a, b) VALUES (1, 'x')",
			"INSERT INTO events (a, b) VALUES (2, 'y'), (3, 'z')",
		},
	}
	ids := map[string]int{}
	for g, qs := range groups {
		var first string
		for _, q := range qs {
			_, id := FingerprintSQL(q)
			if first == "" {
				first = id
			}
			if id != first {
				t.Errorf("group %d: %q has id %s, want %s", g, q, id, first)
			}
		}
		if other, dup := ids[first]; dup {
			t.Errorf("groups %d and %d share id %s", other, g, first)
		}
		ids[first] = g
	}
}
