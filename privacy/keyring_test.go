package privacy

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var tokenRe = regexp.MustCompile(`^tok:e-?[0-9]+\.[0-9a-f]{6}:[A-Za-z0-9_-]{16}$`)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestRing(t testing.TB, c *clock) *KeyRing {
	t.Helper()
	k, err := NewKeyRing(testSecret, KeyConfig{Rotation: 24 * time.Hour, Lookback: 12 * time.Hour}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadKeyRingFromEnv(t *testing.T) {
	t.Setenv(EnvHMACKey, "env-secret-of-enough-length")
	dir := t.TempDir()
	file := filepath.Join(dir, "never", "hmac.key")
	k, err := LoadKeyRing(KeyConfig{File: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file created although %s is set: %v", EnvHMACKey, err)
	}
	k2, err := NewKeyRing([]byte("env-secret-of-enough-length"), KeyConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := k.Token("alice"), k2.Token("alice"); a != b {
		t.Errorf("env secret not used: %s != %s", a, b)
	}
}

func TestLoadKeyRingShortEnv(t *testing.T) {
	t.Setenv(EnvHMACKey, "short")
	_, err := LoadKeyRing(KeyConfig{File: filepath.Join(t.TempDir(), "k")}, nil)
	if !errors.Is(err, ErrShortSecret) || !strings.Contains(err.Error(), EnvHMACKey) {
		t.Fatalf("err = %v, want ErrShortSecret naming %s", err, EnvHMACKey)
	}
}

func TestLoadKeyRingCreatesFile(t *testing.T) {
	t.Setenv(EnvHMACKey, "")
	file := filepath.Join(t.TempDir(), "sub", "hmac.key")
	k, err := LoadKeyRing(KeyConfig{File: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file mode %v size %d, want 0600 and 32 bytes", fi.Mode().Perm(), fi.Size())
	}
	// A second load reads the same secret.
	k2, err := LoadKeyRing(KeyConfig{File: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Token("x") != k2.Token("x") {
		t.Error("reloaded key file gives other tokens")
	}
}

func TestLoadKeyRingRefusesReadableFile(t *testing.T) {
	t.Setenv(EnvHMACKey, "")
	file := filepath.Join(t.TempDir(), "hmac.key")
	if err := os.WriteFile(file, testSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKeyRing(KeyConfig{File: file}, nil)
	if !errors.Is(err, ErrKeyFilePerm) || !strings.Contains(err.Error(), "chmod 600") || !strings.HasPrefix(err.Error(), "loading key file: ") {
		t.Fatalf("err = %v, want ErrKeyFilePerm with a chmod hint", err)
	}
}

func TestLoadKeyRingErrors(t *testing.T) {
	t.Setenv(EnvHMACKey, "")
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kc   KeyConfig
		want error
		text string
	}{
		{"no file", KeyConfig{}, ErrNoSecret, "no master secret"},
		{"short file", KeyConfig{File: short}, ErrShortSecret, "4 bytes"},
		{"directory", KeyConfig{File: dir}, nil, "not a regular file"},
		{"bad rotation", KeyConfig{File: filepath.Join(dir, "k2"), Rotation: time.Minute}, nil, "keys.rotation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyRing(tc.kc, nil)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestTokenDeterministicAndFormat(t *testing.T) {
	c := &clock{time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a, b := newTestRing(t, c), newTestRing(t, c)
	for _, v := range []string{"alice", "", "10.0.0.1", strings.Repeat("x", 5000)} {
		ta, tb := a.Token(v), b.Token(v)
		if ta != tb {
			t.Errorf("Token(%q) differs between rings of one secret: %s %s", v, ta, tb)
		}
		if ta != a.Token(v) {
			t.Errorf("Token(%q) not stable (cache)", v)
		}
		if !tokenRe.MatchString(ta) {
			t.Errorf("Token(%q) = %q, not of the form %s", v, ta, tokenRe)
		}
	}
	if a.Token("alice") == a.Token("bob") {
		t.Error("different values, same token")
	}
	other, err := NewKeyRing([]byte("another-secret-entirely"), KeyConfig{Rotation: 24 * time.Hour}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if other.Token("alice") == a.Token("alice") || other.KeyID() == a.KeyID() {
		t.Error("different secrets give the same token or key id")
	}
	wantID := "e20240." // 2025-06-01 is day 20240 since the Unix epoch
	if !strings.HasPrefix(a.KeyID(), wantID) || !strings.Contains(a.Token("x"), a.KeyID()) {
		t.Errorf("KeyID = %q, want prefix %q and used in tokens", a.KeyID(), wantID)
	}
}

func TestRotationAndLookback(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) // mid-epoch (24h epochs)
	c := &clock{start}
	k := newTestRing(t, c)
	before := k.Token("alice")
	if got := k.Tokens("alice"); len(got) != 1 || got[0] != before {
		t.Fatalf("mid-epoch Tokens = %v, want only the current %s", got, before)
	}

	c.t = start.Add(13 * time.Hour) // 1h into the next epoch: previous inside the 12h lookback
	after := k.Token("alice")
	if after == before {
		t.Fatal("token unchanged across a rotation (stale cache?)")
	}
	got := k.Tokens("alice")
	if len(got) != 2 || got[0] != after || got[1] != before {
		t.Fatalf("Tokens after rotation = %v, want [%s %s]", got, after, before)
	}

	c.t = start.Add(12*time.Hour + 12*time.Hour + time.Second) // lookback expired
	if got := k.Tokens("alice"); len(got) != 1 || got[0] != after {
		t.Fatalf("Tokens after lookback = %v, want only %s", got, after)
	}

	// A ring created later derives the same keys.
	k2 := newTestRing(t, c)
	if k2.Token("alice") != after {
		t.Error("fresh ring disagrees with rotated ring")
	}
}

func TestTokensZeroLookback(t *testing.T) {
	c := &clock{time.Date(2025, 6, 1, 0, 0, 1, 0, time.UTC)}
	k, err := NewKeyRing(testSecret, KeyConfig{Rotation: 24 * time.Hour}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Tokens("a"); len(got) != 1 {
		t.Fatalf("Tokens = %v, want one token with zero lookback", got)
	}
}
