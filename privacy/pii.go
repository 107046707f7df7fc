package privacy

import (
	"net/netip"
	"regexp"
	"strings"
)

// PII placeholders.
const (
	PlaceholderEmail      = "{email}"
	PlaceholderIPv4       = "{ipv4}"
	PlaceholderIPv6       = "{ipv6}"
	PlaceholderCard       = "{card}"
	PlaceholderJWT        = "{jwt}"
	PlaceholderCredential = "{credential}"
	PlaceholderCloudKey   = "{cloud_key}"
	PlaceholderPhone      = "{phone}"
)

// The regular expressions only run after a byte-level pre-check (see
// features) found the characters they need.
var (
	// scheme://user[:password]@ — userinfo in URLs.
	urlUserinfoRe = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@]+@`)
	// JSON Web Tokens (and JWE): base64url header starting with `{"`.
	jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{2,}(?:\.[A-Za-z0-9_\-]*)*`)
	// Cloud and SaaS access keys.
	cloudKeyRe = regexp.MustCompile(`(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}` +
		`|AIza[0-9A-Za-z_\-]{35}` +
		`|\b(?:sk|rk|pk)[\-_](?:live[\-_]|test[\-_]|proj-|ant-)?[A-Za-z0-9_\-]{20,}` +
		`|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{22,}` +
		`|\bxox[abposr]-[A-Za-z0-9\-]{10,}` +
		`|AccountKey=[A-Za-z0-9+/=]{20,}`)
	// HTTP authorization schemes followed by a credential.
	authSchemeRe = regexp.MustCompile(`(?i)\b(bearer|basic|digest|negotiate)(\s+)([A-Za-z0-9._~+/=\-]{6,})`)
	// key=value / key: value pairs whose key names a secret.
	secretKVRe = regexp.MustCompile(`(?i)\b([a-z0-9_.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|authorization|credentials?|cookie|session[_\-]?id)[a-z0-9_.\-]*)` +
		`(["']?\s*[:=]\s*["']?)((?:(?:bearer|basic|digest)\s+)?[^\s"'&,;]+)`)
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
)

// features are the cheap facts one pass over a string establishes; each
// detector runs only when its facts are present.
type features struct {
	at, dot, plus, paren  bool
	scheme, eyj           bool
	cloud, auth, secretKV bool
	digits, colons        int
	doubleColon           bool
	// maxRun is the most digits in one run of digits joined by at most two
	// consecutive separators among " -.()+/" (cards, phones, IPv4 live in
	// one such run).
	maxRun int
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// hasFoldAt reports whether s[i:] starts with the lower-case ASCII word w,
// ignoring case.
func hasFoldAt(s string, i int, w string) bool {
	if len(s)-i < len(w) {
		return false
	}
	for j := 0; j < len(w); j++ {
		if lower(s[i+j]) != w[j] {
			return false
		}
	}
	return true
}

// Byte classes for the first pass of scanFeatures.
const (
	clDot = 1 << iota
	clColon
	clAt
	clPlus
	clParen
	clEq
	clSpace
	clUpperA
	clDashUnder
	clLowerE
)

var byteClass = func() (t [256]uint16) {
	for c, cl := range map[byte]uint16{
		'.': clDot, ':': clColon, '@': clAt, '+': clPlus, '(': clParen, '=': clEq,
		' ': clSpace, '\t': clSpace, '\n': clSpace, '\r': clSpace, '\f': clSpace, '\v': clSpace, 'A': clUpperA, '-': clDashUnder, '_': clDashUnder, 'e': clLowerE,
	} {
		t[c] = cl
	}
	return t
}()

func scanFeatures(s string) features {
	var f features
	var m uint16
	run, gap := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			f.digits++
			run++
			if run > f.maxRun {
				f.maxRun = run
			}
			gap = 0
			continue
		}
		switch c {
		case ' ', '-', '.', '(', ')', '+', '/':
			if gap++; gap > 2 {
				run = 0
			}
		case ':':
			f.colons++
			if i+1 < len(s) && s[i+1] == ':' {
				f.doubleColon = true
			}
			if i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
				f.scheme = true
			}
			run, gap = 0, 0
		default:
			run, gap = 0, 0
		}
		m |= byteClass[c]
	}
	f.dot, f.at, f.plus, f.paren = m&clDot != 0, m&clAt != 0, m&clPlus != 0, m&clParen != 0
	f.eyj = m&clLowerE != 0 && m&clDot != 0 && strings.Contains(s, "eyJ")
	// The keyword pass runs only when a detector that needs a keyword can
	// match: key=value and key: value pairs, "Scheme credential" pairs, and
	// access keys (at least 15 characters).
	kv := m&(clEq|clColon) != 0
	auth := m&clSpace != 0 && len(s) >= 10
	cloud := len(s) >= 15 && m&(clUpperA|clDashUnder) != 0
	if kv || auth || cloud {
		keywordFeatures(s, &f)
		f.secretKV = f.secretKV && kv
		f.auth = f.auth && auth
		f.cloud = f.cloud && cloud
	}
	return f
}

// keywordFeatures looks for the words the regexp detectors need.
func keywordFeatures(s string, f *features) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 'A' && (strings.HasPrefix(s[i:], "AKIA") || strings.HasPrefix(s[i:], "ASIA") ||
			strings.HasPrefix(s[i:], "ABIA") || strings.HasPrefix(s[i:], "ACCA") ||
			strings.HasPrefix(s[i:], "AIza") || strings.HasPrefix(s[i:], "AccountKey")) {
			f.cloud = true
		}
		if c < 'A' {
			continue
		}
		switch lower(c) {
		case 'b':
			if hasFoldAt(s, i, "bearer") || hasFoldAt(s, i, "basic") {
				f.auth = true
			}
		case 'd':
			if hasFoldAt(s, i, "digest") {
				f.auth = true
			}
		case 'n':
			if hasFoldAt(s, i, "negotiate") {
				f.auth = true
			}
		case 'p':
			if hasFoldAt(s, i, "pass") || hasFoldAt(s, i, "pwd") || hasFoldAt(s, i, "private") {
				f.secretKV = true
			} else if hasFoldAt(s, i, "pk_") || hasFoldAt(s, i, "pk-") {
				f.cloud = true
			}
		case 's':
			if hasFoldAt(s, i, "secret") || hasFoldAt(s, i, "session") {
				f.secretKV = true
			} else if hasFoldAt(s, i, "sk-") || hasFoldAt(s, i, "sk_") {
				f.cloud = true
			}
		case 't':
			if hasFoldAt(s, i, "token") {
				f.secretKV = true
			}
		case 'a':
			if hasFoldAt(s, i, "apikey") || hasFoldAt(s, i, "api_key") || hasFoldAt(s, i, "api-key") ||
				hasFoldAt(s, i, "access") && i+7 < len(s) && (s[i+6] == '_' || s[i+6] == '-' || lower(s[i+6]) == 'k' || lower(s[i+6]) == 't') ||
				hasFoldAt(s, i, "authorization") {
				f.secretKV = true
			}
		case 'c':
			if hasFoldAt(s, i, "cookie") || hasFoldAt(s, i, "credential") {
				f.secretKV = true
			}
		case 'r':
			if hasFoldAt(s, i, "rk_") || hasFoldAt(s, i, "rk-") {
				f.cloud = true
			}
		case 'g':
			if hasFoldAt(s, i, "gh") && i+3 < len(s) && s[i+3] == '_' || hasFoldAt(s, i, "github_pat_") {
				f.cloud = true
			}
		case 'x':
			if hasFoldAt(s, i, "xox") {
				f.cloud = true
			}
		}
	}
}

// redactPII replaces every PII match in s by its placeholder. It returns s
// itself (no allocation) when nothing matched. It repeats until a pass
// changes nothing, so redactPII(redactPII(s)) == redactPII(s).
func redactPII(s string) (string, bool) {
	out, changed := redactPass(s)
	if !changed {
		return s, false
	}
	for range 4 {
		next, again := redactPass(out)
		if !again {
			break
		}
		out = next
	}
	return out, true
}

func redactPass(s string) (string, bool) {
	if len(s) < 6 {
		return s, false
	}
	f := scanFeatures(s)
	in := s
	if f.scheme && f.at {
		if urlUserinfoRe.MatchString(s) {
			s = urlUserinfoRe.ReplaceAllString(s, "${1}"+PlaceholderCredential+"@")
		}
	}
	if f.eyj {
		if jwtRe.MatchString(s) {
			s = jwtRe.ReplaceAllLiteralString(s, PlaceholderJWT)
		}
	}
	if f.cloud {
		if cloudKeyRe.MatchString(s) {
			s = cloudKeyRe.ReplaceAllLiteralString(s, PlaceholderCloudKey)
		}
	}
	if f.auth {
		if authSchemeRe.MatchString(s) {
			s = authSchemeRe.ReplaceAllStringFunc(s, redactAuthScheme)
		}
	}
	if f.secretKV {
		if secretKVRe.MatchString(s) {
			s = secretKVRe.ReplaceAllString(s, "${1}${2}"+PlaceholderCredential)
		}
	}
	if f.at {
		if emailRe.MatchString(s) {
			s = emailRe.ReplaceAllLiteralString(s, PlaceholderEmail)
		}
	}
	if f.maxRun >= 13 {
		s = replaceCards(s)
	}
	if f.doubleColon || f.colons >= 7 {
		s = replaceIPv6(s)
	}
	if f.maxRun >= 4 && f.dot {
		s = replaceIPv4(s)
	}
	if f.maxRun >= 8 {
		s = replacePhones(s, f.plus, f.paren)
	}
	return s, s != in
}

// redactAuthScheme keeps the scheme word and replaces the credential when it
// looks like one: it has a digit, a symbol or an upper-case letter after its
// first character. "Basic authentication failed" stays as it is.
func redactAuthScheme(m string) string {
	sub := authSchemeRe.FindStringSubmatch(m)
	cred := sub[3]
	if strings.IndexAny(cred, "0123456789+/=_-.~") < 0 && strings.IndexFunc(cred[1:], func(r rune) bool { return r >= 'A' && r <= 'Z' }) < 0 {
		return m
	}
	return sub[1] + sub[2] + PlaceholderCredential
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) || c == '_' }

func isHex(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// leftOK reports whether a number may start at s[i]: not glued to a word,
// and not the tail of a dotted or hyphenated token such as "a1-2345" or
// "1.2345".
func leftOK(s string, i int) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	if isAlnum(c) {
		return false
	}
	if (c == '.' || c == '-') && i >= 2 && isAlnum(s[i-2]) {
		return false
	}
	return true
}

// rightOK reports whether a number may end before s[j].
func rightOK(s string, j int) bool {
	if j >= len(s) {
		return true
	}
	c := s[j]
	if isAlnum(c) {
		return false
	}
	if (c == '.' || c == '-') && j+1 < len(s) && isAlnum(s[j+1]) {
		return false
	}
	return true
}

// replacer accumulates replacements of s, allocating only on the first one.
type replacer struct {
	s    string
	b    []byte
	last int
	used bool
}

func (r *replacer) replace(i, j int, with string) {
	if !r.used {
		r.used = true
		r.b = make([]byte, 0, len(r.s)+16)
	}
	r.b = append(r.b, r.s[r.last:i]...)
	r.b = append(r.b, with...)
	r.last = j
}

func (r *replacer) result() string {
	if !r.used {
		return r.s
	}
	r.b = append(r.b, r.s[r.last:]...)
	return string(r.b)
}

// replaceIPv6 replaces IPv6 addresses: maximal runs of hex digits, colons
// and dots with at least two colons and one digit, bounded by non-word
// characters, that net/netip parses as IPv6. Times ("12:30:45"), MAC
// addresses and "std::vector" do not parse or are not bounded.
func replaceIPv6(s string) string {
	r := replacer{s: s}
	for i := 0; i < len(s); {
		c := s[i]
		if !(isHex(c) || c == ':') || (i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.')) {
			i++
			continue
		}
		j, colons, digits := i, 0, 0
		for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') {
			switch {
			case s[j] == ':':
				colons++
			case isDigit(s[j]):
				digits++
			}
			j++
		}
		end := j
		for end > i && s[end-1] == '.' { // a sentence's full stop
			end--
		}
		if (colons >= 7 || strings.Contains(s[i:end], "::")) && digits > 0 && (end == len(s) || !isAlnum(s[end])) {
			if a, err := netip.ParseAddr(s[i:end]); err == nil && a.Is6() {
				r.replace(i, end, PlaceholderIPv6)
			}
		}
		i = j
	}
	return r.result()
}

// replaceIPv4 replaces dotted quads of octets 0-255 that are not part of a
// longer dotted or word token ("1.2.3.4.5", "v1.2.3.4" stay).
func replaceIPv4(s string) string {
	r := replacer{s: s}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || (i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.')) {
			continue
		}
		j, ok := i, true
		for part := 0; part < 4 && ok; part++ {
			if part > 0 {
				if j >= len(s) || s[j] != '.' {
					ok = false
					break
				}
				j++
			}
			n, k := 0, j
			for k < len(s) && isDigit(s[k]) && k-j < 4 {
				n = n*10 + int(s[k]-'0')
				k++
			}
			if k == j || k-j > 3 || n > 255 {
				ok = false
			}
			j = k
		}
		if ok && (j == len(s) || !isAlnum(s[j]) && !(s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
			r.replace(i, j, PlaceholderIPv4)
			i = j - 1
		}
	}
	return r.result()
}
