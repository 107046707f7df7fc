package privacy

import "strings"

// Message placeholders.
const (
	PlaceholderString = "{str}"
	PlaceholderNumber = "{num}"
	PlaceholderHex    = "{hex}"
)

// redactMessage keeps the shape of a status or exception message and
// removes its values: PII becomes typed placeholders; quoted strings become
// '{str}' (the quotes stay); words that are UUIDs become {uuid}, hex strings
// of 8+ characters with a digit become {hex}, numbers of 4+ digits become
// {num}, and other words with 4+ digits become {id}. It returns s itself when
// nothing changes, is idempotent, and reports whether PII was found.
func redactMessage(s string) (string, bool) {
	s, pii := redactPII(s)
	r := replacer{s: s}
	for i := 0; i < len(s); {
		c := s[i]
		if (c == '\'' || c == '"' || c == '`') && (i == 0 || !isAlnum(s[i-1])) {
			if j := closingQuote(s, i); j > 0 {
				if s[i+1:j] != PlaceholderString {
					r.replace(i+1, j, PlaceholderString)
				}
				i = j + 1
				continue
			}
		}
		if !isWordByte(c) && c != '-' {
			i++
			continue
		}
		j := i
		for j < len(s) && (isWordByte(s[j]) || s[j] == '-') {
			j++
		}
		if ph := classifyWord(s[i:j]); ph != "" {
			r.replace(i, j, ph)
		}
		i = j
	}
	return r.result(), pii
}

// closingQuote returns the index of the quote closing the one at s[i], when
// it is followed by a non-word character; else -1. Apostrophes inside words
// ("can't") never open a quote because the caller checks the left side.
func closingQuote(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && isAlnum(s[j+1]) {
				return -1
			}
			return j
		}
	}
	return -1
}

func classifyWord(w string) string {
	if isUUID(w) {
		return PlaceholderUUID
	}
	digits, hex, numeric := 0, true, true
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case isDigit(c):
			digits++
		case c == '-' || c == '_':
			hex = false
		case isHex(c):
			numeric = false
		default:
			hex, numeric = false, false
		}
	}
	switch {
	case digits < 1:
		return ""
	case hex && len(w) >= 8 && digits < len(w):
		return PlaceholderHex
	case digits < 4:
		return ""
	case numeric && strings.Trim(w, "-_") != "":
		return PlaceholderNumber
	}
	return PlaceholderID
}
