package privacy

import "strings"

// PlaceholderWord replaces a word of free text that is neither in the
// vocabulary nor code-shaped: a name, a place, anything a person wrote.
const PlaceholderWord = "{word}"

// templateWords replaces every word of s that is not in vocab, not
// code-shaped and not part of a placeholder by {word} (see
// [Redactor.Message]). Words are runs of letters; a run glued to digits,
// '_' or non-ASCII letters is one word. It returns s itself when nothing
// changes and is idempotent.
func templateWords(s string, vocab map[string]bool) string {
	r := replacer{s: s}
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if !keepWord(s, i, j, vocab) {
			r.replace(i, j, PlaceholderWord)
		}
		i = j
	}
	return r.result()
}

// keepWord reports whether the word s[i:j] may stay.
func keepWord(s string, i, j int, vocab map[string]bool) bool {
	w := s[i:j]
	if i > 0 && s[i-1] == '{' && j < len(s) && s[j] == '}' {
		return true // a placeholder: {num}, {word}, ...
	}
	letters, upper, inner := 0, 0, 0
	for k := 0; k < len(w); k++ {
		c := w[k]
		switch {
		case c >= 0x80:
			return inVocab(w, vocab) // accented names are words, not code
		case isDigit(c) || c == '_':
			return true // identifiers, versions: code-shaped
		case c >= 'A' && c <= 'Z':
			upper++
			if k > 0 {
				inner++
			}
		}
		letters++
	}
	if len(w) == 1 || inVocab(w, vocab) {
		return true // single letters: "can't", "a", "x"
	}
	switch {
	case w[0] >= 'a' && w[0] <= 'z' && inner > 0:
		return true // camelCase: getUser, ctxDone
	case inner >= 2 && upper < letters:
		return true // PascalCase with humps: NullPointerException, IOError
	case upper == letters && letters <= 3:
		return true // acronyms: IO, DB, EOF
	case dotted(s, i, j):
		return true // part of a dotted name: java.lang, os.Open, pkg.Func
	}
	return false
}

// dotted reports whether s[i:j] is glued by '.', "::" or '(' to another
// identifier: a qualified name or a call, not prose.
func dotted(s string, i, j int) bool {
	if j+1 < len(s) && (s[j] == '.' && isAlnum(s[j+1]) || s[j] == '(' || s[j] == ':' && s[j+1] == ':') {
		return true
	}
	return i > 1 && (s[i-1] == '.' && isAlnum(s[i-2]) || s[i-1] == ':' && s[i-2] == ':')
}

func inVocab(w string, vocab map[string]bool) bool {
	if vocab[w] {
		return true
	}
	return vocab[strings.ToLower(w)]
}

// templateNameWords applies templateWords to a name of several
// space-separated parts; a name of one part (an operation name such as
// "PlaceOrder" or "ledger.commit") is an identifier and stays.
func templateNameWords(name string, vocab map[string]bool) string {
	if strings.IndexByte(strings.TrimSpace(name), ' ') < 0 {
		return name
	}
	r := replacer{s: name}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != ' ' {
			continue
		}
		// A part with anything but letters (a path, a URL, a dotted or
		// numbered identifier, a placeholder) is code; a word of letters
		// follows the message rule.
		if part := name[start:i]; part != "" && isLetters(part) && !keepWord(name, start, i, vocab) {
			r.replace(start, i, PlaceholderWord)
		}
		start = i + 1
	}
	return r.result()
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && s[i] != '\'' {
			return false
		}
	}
	return true
}

// ValidKey reports whether key may name an attribute: an identifier of
// letters, digits and "_.-/" starting with a letter or '_', at most 128
// bytes, without a run of 7 digits, in which the PII scan finds nothing. A key that is not (an e-mail
// address, a sentence) is dropped and counted under [KeyInvalid], never
// under its own text.
func ValidKey(key string) bool {
	if key == "" || len(key) > 128 || !(isAlpha(key[0]) || key[0] == '_') {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isAlnum(c) && c != '.' && c != '-' && c != '/' {
			return false
		}
	}
	digits, run := 0, 0
	for i := 0; i < len(key); i++ {
		if !isDigit(key[i]) {
			run = 0
			continue
		}
		digits++
		if run++; run >= 7 {
			return false // a number in a key is a value: an account, a card, a phone
		}
	}
	if digits < 7 {
		return true // too few digits for a card or phone number
	}
	_, found := redactPII(key)
	return !found
}

// KeyInvalid counts the attributes whose key is not a valid identifier.
const KeyInvalid = "(invalid key)"
