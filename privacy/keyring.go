package privacy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/hkdf"
)

// EnvHMACKey names the environment variable that, when set and non-empty,
// holds the master secret and takes precedence over the key file.
const EnvHMACKey = "DEBUGAI_HMAC_KEY"

const (
	minSecretLen   = 16
	newSecretLen   = 32
	maxKeyFileSize = 4096
	tokenMACBytes  = 12 // 96 bits: 16 base64url characters
	tokenPrefix    = "tok:"
)

// hkdfSalt versions the derivation: changing it changes every key.
var hkdfSalt = []byte("debugai/privacy/v1")

// Key ring errors.
var (
	// ErrNoSecret reports that neither DEBUGAI_HMAC_KEY nor a key file is set.
	ErrNoSecret = errors.New("no master secret: set " + EnvHMACKey + " or keys.file")
	// ErrShortSecret reports a master secret of fewer than 16 bytes.
	ErrShortSecret = errors.New("master secret shorter than 16 bytes")
	// ErrKeyFilePerm reports a key file that group or other may access.
	ErrKeyFilePerm = errors.New("key file is accessible by group or other")
)

// KeyRing derives epoch keys from a master secret and makes tokens. It is
// safe for concurrent use.
type KeyRing struct {
	secret   []byte
	fp       string // six hex digits, one-way from the secret
	rotSecs  int64
	lookback time.Duration
	now      func() time.Time

	cur   atomic.Pointer[epochKey]
	mu    sync.Mutex
	keys  map[int64]*epochKey // epochs derived so far, pruned to the window
	cache *cache              // value -> token under cur (tag = key id)
}

// epochKey is the derived key of one epoch.
type epochKey struct {
	epoch int64
	id    string
	start int64 // unix seconds
	end   int64 // unix seconds, exclusive
	pool  sync.Pool
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// LoadKeyRing loads the master secret and returns a key ring. The secret
// comes from the DEBUGAI_HMAC_KEY environment variable when it is set and
// non-empty (any string of at least 16 bytes), else from kc.File, which is
// created with mode 0600 and 32 random bytes when missing and refused when
// group or other may access it. A zero kc.Rotation means [DefaultRotation].
// now is the clock (nil means time.Now).
func LoadKeyRing(kc KeyConfig, now func() time.Time) (*KeyRing, error) {
	var secret []byte
	if env := os.Getenv(EnvHMACKey); env != "" {
		if len(env) < minSecretLen {
			return nil, fmt.Errorf("loading key from %s: %d bytes: %w", EnvHMACKey, len(env), ErrShortSecret)
		}
		secret = []byte(env)
	} else {
		if kc.File == "" {
			return nil, fmt.Errorf("loading key: %w", ErrNoSecret)
		}
		var err error
		if secret, err = readOrCreateKeyFile(kc.File); err != nil {
			return nil, fmt.Errorf("loading key file: %w", err)
		}
	}
	return NewKeyRing(secret, kc, now)
}

// NewKeyRing returns a key ring over secret (at least 16 bytes); kc.File is
// ignored. A zero kc.Rotation means [DefaultRotation].
func NewKeyRing(secret []byte, kc KeyConfig, now func() time.Time) (*KeyRing, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("creating key ring: %d bytes: %w", len(secret), ErrShortSecret)
	}
	if kc.Rotation == 0 {
		kc.Rotation = DefaultRotation
	}
	if err := kc.validate(); err != nil {
		return nil, fmt.Errorf("creating key ring: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	k := &KeyRing{
		secret:   append([]byte(nil), secret...),
		rotSecs:  int64(kc.Rotation / time.Second),
		lookback: kc.Lookback,
		now:      now,
		keys:     make(map[int64]*epochKey),
		cache:    newCache(8192, 256),
	}
	var fp [3]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.secret, hkdfSalt, []byte("fingerprint")), fp[:]); err != nil {
		return nil, fmt.Errorf("deriving key fingerprint: %w", err)
	}
	k.fp = hex.EncodeToString(fp[:])
	if _, err := k.current(); err != nil {
		return nil, err
	}
	return k, nil
}

func readOrCreateKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret, err := createKeyFile(path)
		if !errors.Is(err, fs.ErrExist) {
			return secret, err
		}
		f, err = os.Open(path) // lost a race with another process: read its file
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o (run chmod 600 %s): %w", path, perm, path, ErrKeyFilePerm)
	}
	secret, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	switch {
	case len(secret) > maxKeyFileSize:
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeyFileSize)
	case len(secret) < minSecretLen:
		return nil, fmt.Errorf("%s: %d bytes: %w", path, len(secret), ErrShortSecret)
	}
	return secret, nil
}

func createKeyFile(path string) (secret []byte, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	secret = make([]byte, newSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Write(secret); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", path, err)
	}
	return secret, nil
}

// epochAt returns the epoch number containing unix second t.
func (k *KeyRing) epochAt(t int64) int64 {
	e := t / k.rotSecs
	if t%k.rotSecs < 0 {
		e--
	}
	return e
}

// current returns the key of the epoch containing now.
func (k *KeyRing) current() (*epochKey, error) {
	t := k.now().Unix()
	if ek := k.cur.Load(); ek != nil && t >= ek.start && t < ek.end {
		return ek, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	ek, err := k.derive(k.epochAt(t))
	if err != nil {
		return nil, err
	}
	if old := k.cur.Load(); old == nil || old.epoch != ek.epoch {
		k.cur.Store(ek)
		// Prune epochs that left the window.
		for e := range k.keys {
			if e > ek.epoch || k.keys[e].end < t-int64(k.lookback/time.Second) {
				delete(k.keys, e)
			}
		}
	}
	return ek, nil
}

// derive returns the key of epoch e; k.mu must be held.
func (k *KeyRing) derive(e int64) (*epochKey, error) {
	if ek, ok := k.keys[e]; ok {
		return ek, nil
	}
	var key [32]byte
	info := []byte("epoch:" + strconv.FormatInt(e, 10))
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.secret, hkdfSalt, info), key[:]); err != nil {
		return nil, fmt.Errorf("deriving epoch %d key: %w", e, err)
	}
	ek := &epochKey{
		epoch: e,
		id:    "e" + strconv.FormatInt(e, 10) + "." + k.fp,
		start: e * k.rotSecs,
		end:   (e + 1) * k.rotSecs,
	}
	ek.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key[:])} }
	k.keys[e] = ek
	return ek, nil
}

func (ek *epochKey) token(value string) string {
	st := ek.pool.Get().(*macState)
	st.h.Reset()
	st.buf = append(st.buf[:0], value...)
	st.h.Write(st.buf)
	sum := st.h.Sum(st.sum[:0])
	var out [64]byte
	b := append(out[:0], tokenPrefix...)
	b = append(b, ek.id...)
	b = append(b, ':')
	b = base64.RawURLEncoding.AppendEncode(b, sum[:tokenMACBytes])
	if cap(st.buf) > 1024 {
		st.buf = nil
	}
	ek.pool.Put(st)
	return string(b)
}

// KeyID returns the id of the current epoch key, "e<epoch>.<fingerprint>".
func (k *KeyRing) KeyID() string {
	ek, err := k.current()
	if err != nil {
		return ""
	}
	return ek.id
}

// Token returns value's token under the current epoch key:
// "tok:<key-id>:<base64url of the first 12 bytes of HMAC-SHA256>".
func (k *KeyRing) Token(value string) string {
	ek, err := k.current()
	if err != nil {
		return "" // unreachable: derivation from a valid secret cannot fail
	}
	if e, ok := k.cache.get(value); ok && e.tag == ek.id {
		return e.out
	}
	tok := ek.token(value)
	k.cache.put(value, cacheEntry{out: tok, tag: ek.id})
	return tok
}

// Tokens returns value's token under every epoch still inside the lookback
// window, current first. An epoch is inside the window while less than the
// lookback has passed since it ended. Querying the store for any of these
// tokens follows one identifier across rotations.
func (k *KeyRing) Tokens(value string) []string {
	cur, err := k.current()
	if err != nil {
		return nil
	}
	out := []string{k.Token(value)}
	oldest := k.now().Unix() - int64(k.lookback/time.Second)
	k.mu.Lock()
	defer k.mu.Unlock()
	for e := cur.epoch - 1; (e+1)*k.rotSecs > oldest; e-- {
		ek, err := k.derive(e)
		if err != nil {
			break
		}
		out = append(out, ek.token(value))
	}
	return out
}
