package privacy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// FingerprintSQL reduces a statement to its shape and returns it with a
// stable query id (16 hex digits: the first 8 bytes of SHA-256 of the
// fingerprint). The same statement with other literals yields the same id.
//
//   - literals become "?": strings (with doubled-quote or backslash escapes,
//     the E, N, X and B prefixes, dollar-quoted bodies), numbers (with a
//     unary sign, decimals, exponents, hex), TRUE and FALSE, and bind
//     parameters ($1, :name, @p1, %s); NULL stays;
//   - a parenthesized list of literals collapses to "(?)", and repeated
//     "(?), (?)" rows to one, so IN lists and multi-row VALUES of any length
//     match;
//   - comments (--, /* */, #) are removed, whitespace is folded and the
//     trailing ';' dropped; keywords are upper-cased, identifiers keep their
//     case; `backtick` identifiers stay, a "double-quoted" token stays when it
//     is identifier-shaped and not in a value position (after a comparison,
//     LIKE, or inside an IN or VALUES list), else it is a literal;
//   - text that does not start with an SQL verb (a Redis or Mongo command)
//     keeps only its leading command word: "HGETALL ?".
//
// FingerprintSQL is idempotent.
func FingerprintSQL(q string) (fingerprint, queryID string) {
	fp := fingerprintSQL(q)
	// Canonical SQL re-lexes to itself at once; odd operator runs may need
	// another pass to settle. Iterating makes idempotence a guarantee.
	for range 4 {
		next := fingerprintSQL(fp)
		if next == fp {
			break
		}
		fp = next
	}
	return fp, QueryID(fp)
}

// QueryID returns the id of a fingerprint: 16 hex digits of its SHA-256.
func QueryID(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return hex.EncodeToString(sum[:8])
}

type sqlTokKind uint8

const (
	tkWord sqlTokKind = iota + 1 // identifier or keyword
	tkLit                        // '?'
	tkOp                         // operator
	tkOpen
	tkClose
	tkComma
	tkDot
	tkCast // ::
	tkSemi
	tkQuoted // identifier-shaped quoted identifier
)

type sqlFP struct {
	b       []byte
	prev    sqlTokKind
	prevTxt string // upper-cased keyword or operator text of the previous token
	parens  []parenState
	n       int // tokens emitted
}

type parenState struct {
	pos   int  // b.Len() just after '('
	only  bool // only literals and commas so far
	lits  bool // at least one literal
	value bool // opened after IN or VALUES: a value list
}

func fingerprintSQL(q string) string {
	var f sqlFP
	f.b = make([]byte, 0, len(q))
	first := true
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '-' && i+1 < len(q) && q[i+1] == '-', c == '#' && !(i+1 < len(q) && (q[i+1] == '>' || q[i+1] == '-')):
			for i < len(q) && q[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += end + 4
			}
			continue
		}
		if first {
			first = false
			if !sqlStart(q[i:]) {
				return nonSQL(q[i:])
			}
		}
		switch {
		case c == '\'':
			i = skipQuoted(q, i, '\'')
			f.lit()
		case c == '"':
			j := skipQuoted(q, i, '"')
			body := q[i+1 : max(j-1, i+1)]
			if f.valuePosition() || !identShaped(body) {
				f.lit()
			} else {
				f.emit(tkQuoted, q[i:j], "")
			}
			i = j
		case c == '`':
			j := skipQuoted(q, i, '`')
			f.emit(tkQuoted, q[i:j], "")
			i = j
		case c == '$' && i+1 < len(q) && isDigit(q[i+1]):
			i++
			for i < len(q) && isDigit(q[i]) {
				i++
			}
			f.lit()
		case c == '$':
			if j := skipDollar(q, i); j > i {
				i = j
				f.lit()
			} else {
				f.emit(tkOp, "$", "$")
				i++
			}
		case c == '?':
			i++
			f.lit()
		case c == ':' && i+1 < len(q) && q[i+1] == ':':
			f.emit(tkCast, "::", "::")
			i += 2
		case (c == ':' || c == '@') && i+1 < len(q) && isWordByte(q[i+1]) && !(c == '@' && q[i+1] == '@'):
			i++
			for i < len(q) && isWordByte(q[i]) {
				i++
			}
			f.lit()
		case c == '%' && i+1 < len(q) && (q[i+1] == 's' || q[i+1] == 'd' || q[i+1] == '('):
			if q[i+1] == '(' {
				if end := strings.IndexByte(q[i:], ')'); end > 0 && end+1 < len(q)-i {
					i += end + 2
				} else {
					i = len(q)
				}
			} else {
				i += 2
			}
			f.lit()
		case isDigit(c) || c == '.' && i+1 < len(q) && isDigit(q[i+1]):
			i = skipNumber(q, i)
			f.lit()
		case (c == '-' || c == '+') && i+1 < len(q) && (isDigit(q[i+1]) || q[i+1] == '.' && i+2 < len(q) && isDigit(q[i+2])) && f.expectsOperand():
			i = skipNumber(q, i+1)
			f.lit()
		case isWordByte(c) || c == '@':
			j := i + 1
			for j < len(q) && (isWordByte(q[j]) || q[j] == '$' || q[j] == '@') {
				j++
			}
			w := q[i:j]
			if j < len(q) && q[j] == '\'' && len(w) <= 2 && isStringPrefix(w) {
				i = skipQuoted(q, j, '\'')
				f.lit()
				continue
			}
			i = j
			if up, ok := sqlKeyword(w); ok {
				if up == "TRUE" || up == "FALSE" {
					f.lit()
				} else {
					f.emit(tkWord, up, up)
				}
			} else {
				f.emit(tkWord, w, "")
			}
		case c == '(':
			f.open()
			i++
		case c == ')':
			f.close()
			i++
		case c == ',':
			f.emit(tkComma, ",", ",")
			i++
		case c == '.':
			f.emit(tkDot, ".", ".")
			i++
		case c == ';':
			i++
			f.emit(tkSemi, ";", ";")
		case c == '#': // not a comment: the #> #>> #- operators
			j := i + 2
			if q[i+1] == '>' && j < len(q) && q[j] == '>' {
				j++
			}
			f.emit(tkOp, q[i:j], q[i:j])
			i = j
		default:
			j := i + 1
			for j < len(q) && j-i < 3 && strings.IndexByte("<>=!|&~^*/%+-@", q[j]) >= 0 &&
				!(q[j] == '-' && j+1 < len(q) && (q[j+1] == '-' || isDigit(q[j+1]))) &&
				!(q[j] == '*' && q[j-1] == '/') && !(q[j] == '/' && j+1 < len(q) && q[j+1] == '*') {
				j++
			}
			op := q[i:j]
			f.emit(tkOp, op, op)
			i = j
		}
	}
	out := string(f.b)
	for strings.HasSuffix(out, ";") {
		out = strings.TrimRight(strings.TrimSuffix(out, ";"), " ")
	}
	return out
}

// sqlStart reports whether s starts like an SQL statement.
func sqlStart(s string) bool {
	if s[0] == '(' {
		return true
	}
	j := 0
	for j < len(s) && isAlpha(s[j]) {
		j++
	}
	ok := sqlVerbs[strings.ToUpper(s[:j])]
	return ok
}

// nonSQL keeps only a leading command word of a non-SQL statement.
func nonSQL(s string) string {
	j := 0
	for j < len(s) && j <= 32 && (isAlpha(s[j]) || s[j] == '_' || s[j] == '.') {
		j++
	}
	if j == 0 || j > 32 || j < len(s) && !isSpace(s[j]) {
		return "?"
	}
	if j == len(s) {
		return strings.ToUpper(s)
	}
	return strings.ToUpper(s[:j]) + " ?"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWordByte(c byte) bool { return isAlnum(c) || c >= 0x80 }

func isStringPrefix(w string) bool {
	switch strings.ToUpper(w) {
	case "E", "N", "B", "X", "U", "R", "BR", "RB":
		return true
	}
	return false
}

// identShaped reports a plain identifier: a letter or '_', then letters,
// digits, '_' or '$', at most 63 bytes.
func identShaped(s string) bool {
	if s == "" || len(s) > 63 || !(isAlpha(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '$' {
			return false
		}
	}
	return true
}

// skipQuoted returns the index after the quoted token starting at s[i],
// honoring doubled quotes and backslash escapes. An unterminated quote runs
// to the end.
func skipQuoted(s string, i int, quote byte) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case quote:
			if j+1 < len(s) && s[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipDollar skips a Postgres dollar-quoted string ($$...$$, $tag$...$tag$)
// at s[i]; it returns i when there is none.
func skipDollar(s string, i int) int {
	j := i + 1
	for j < len(s) && (isAlpha(s[j]) || s[j] == '_') {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i
	}
	tag := s[i : j+1]
	end := strings.Index(s[j+1:], tag)
	if end < 0 {
		return len(s)
	}
	return j + 1 + end + len(tag)
}

func skipNumber(s string, i int) int {
	if i+1 < len(s) && s[i] == '0' && (s[i+1]|0x20 == 'x' || s[i+1]|0x20 == 'b') {
		i += 2
		for i < len(s) && isHex(s[i]) {
			i++
		}
		return i
	}
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' || s[i] == '_') {
		i++
	}
	if i < len(s) && s[i]|0x20 == 'e' {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

// expectsOperand reports whether the next token is in operand position, so a
// sign belongs to a number.
func (f *sqlFP) expectsOperand() bool {
	switch f.prev {
	case 0, tkOp, tkOpen, tkComma, tkCast:
		return true
	case tkWord:
		return f.prevTxt != "" && !sqlFuncs[f.prevTxt]
	}
	return false
}

// valuePosition reports whether a double-quoted token here is a value.
func (f *sqlFP) valuePosition() bool {
	if n := len(f.parens); n > 0 && f.parens[n-1].value {
		return true
	}
	switch f.prevTxt {
	case "=", "<", ">", "<=", ">=", "<>", "!=", "||", "+", "-", "*", "/", "%", ":",
		"LIKE", "ILIKE", "BETWEEN", "THEN", "ELSE", "VALUES", "IN", "DEFAULT":
		return true
	case "AND":
		return false
	}
	return false
}

func (f *sqlFP) space(k sqlTokKind) {
	if f.n == 0 {
		return
	}
	switch k {
	case tkComma, tkClose, tkDot, tkCast, tkSemi:
		return
	case tkOpen:
		if f.prev == tkWord && (f.prevTxt == "" || sqlFuncs[f.prevTxt]) || f.prev == tkQuoted {
			return
		}
	}
	switch f.prev {
	case tkOpen, tkDot, tkCast:
		return
	}
	f.b = append(f.b, ' ')
}

func (f *sqlFP) emit(k sqlTokKind, text, up string) {
	f.space(k)
	f.b = append(f.b, text...)
	f.prev, f.prevTxt = k, up
	f.n++
	if n := len(f.parens); n > 0 && k != tkComma {
		f.parens[n-1].only = false
	}
}

func (f *sqlFP) lit() {
	f.space(tkLit)
	f.b = append(f.b, '?')
	f.prev, f.prevTxt = tkLit, ""
	f.n++
	if n := len(f.parens); n > 0 {
		f.parens[n-1].lits = true
	}
}

func (f *sqlFP) open() {
	value := f.prev == tkWord && (f.prevTxt == "IN" || f.prevTxt == "VALUES") ||
		f.prev == tkComma && len(f.parens) == 0 && bytes.HasSuffix(f.b, []byte("(?),"))
	if n := len(f.parens); n > 0 {
		f.parens[n-1].only = false
	}
	f.space(tkOpen)
	f.b = append(f.b, '(')
	f.prev, f.prevTxt = tkOpen, "("
	f.n++
	f.parens = append(f.parens, parenState{pos: len(f.b), only: true, value: value})
}

func (f *sqlFP) close() {
	n := len(f.parens)
	if n == 0 {
		f.emit(tkClose, ")", ")")
		return
	}
	p := f.parens[n-1]
	f.parens = f.parens[:n-1]
	if p.only && p.lits {
		f.b = append(f.b[:p.pos], '?')
	}
	f.b = append(f.b, ')')
	f.prev, f.prevTxt = tkClose, ")"
	f.n++
	if p.only && p.lits {
		if bytes.HasSuffix(f.b, []byte("(?), (?)")) {
			f.b = f.b[:len(f.b)-len(", (?)")]
		}
	}
	if n := len(f.parens); n > 0 {
		f.parens[n-1].only = false
	}
}
