package privacy

// Detectors for PII made of digit groups: payment cards and phone numbers.

const maxGroups = 12

// span is a half-open byte range [0]:[1].
type span [2]int

// digitGroups collects the run of digit groups starting at s[i], joined by
// single separators from seps ("4111 1111", "555-123-4567"). It returns the
// groups, the separator after each group but the last, and the run's end.
func digitGroups(s string, i int, seps string) (g [maxGroups]span, sep [maxGroups]byte, n, end int) {
	j := i
	for {
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		g[n] = span{j, k}
		n++
		if n < maxGroups && k+1 < len(s) && isSep(s[k], seps) && isDigit(s[k+1]) {
			sep[n-1] = s[k]
			j = k + 1
			continue
		}
		return g, sep, n, k
	}
}

func isSep(c byte, seps string) bool {
	for i := 0; i < len(seps); i++ {
		if seps[i] == c {
			return true
		}
	}
	return false
}

// replaceCards replaces payment card numbers: 13-19 digits, either as one
// group or in the usual groupings (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) with one
// kind of separator (space or dash), starting with an issuer digit 2-6 and
// passing the Luhn check. Any run of consecutive groups inside a longer run is
// tried, so "ref 7 4111 1111 1111 1111" still loses its card.
func replaceCards(s string) string {
	r := replacer{s: s}
	cont := false // s[i] continues a run cut at maxGroups
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			cont = false
			continue
		}
		g, sep, n, end := digitGroups(s, i, " -")
		truncated := n == maxGroups && end+1 < len(s) && isSep(s[end], " -") && isDigit(s[end+1])
		matchedEnd := -1
		for a := 0; a < n; {
			if a == 0 && !cont && (!leftOK(s, g[0][0]) || g[0][0] > 0 && s[g[0][0]-1] == '+') {
				a++
				continue
			}
			matched := false
			for b := n - 1; b >= a; b-- {
				if b == n-1 && !truncated && !rightOK(s, g[b][1]) {
					continue
				}
				if isCard(s, g[a:b+1], sep[a:b]) {
					r.replace(g[a][0], g[b][1], PlaceholderCard)
					a, matched, matchedEnd = b+1, true, g[b][1]
					break
				}
			}
			if !matched {
				a++
			}
		}
		if !truncated {
			i, cont = end, false
			continue
		}
		// Rescan the run's last groups with what follows, after any match.
		k := n - 4
		for k < n && g[k][0] < matchedEnd {
			k++
		}
		if k < n {
			i = g[k][0]
		} else {
			i = end + 1
		}
		cont = true
	}
	return r.result()
}

func isCard(s string, g []span, sep []byte) bool {
	total := 0
	for _, x := range g {
		total += x[1] - x[0]
	}
	if total < 13 || total > 19 {
		return false
	}
	for _, c := range sep {
		if c != sep[0] {
			return false
		}
	}
	if len(g) > 1 && !cardGrouping(g) {
		return false
	}
	if first := s[g[0][0]]; first < '2' || first > '6' {
		return false
	}
	// Luhn, from the rightmost digit.
	sum, double := 0, false
	for k := len(g) - 1; k >= 0; k-- {
		for p := g[k][1] - 1; p >= g[k][0]; p-- {
			d := int(s[p] - '0')
			if double {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

func cardGrouping(g []span) bool {
	l := func(k int) int { return g[k][1] - g[k][0] }
	if len(g) == 3 && l(0) == 4 && l(1) == 6 && (l(2) == 5 || l(2) == 4) {
		return true
	}
	for k := 0; k < len(g)-1; k++ {
		if l(k) != 4 {
			return false
		}
	}
	return l(len(g)-1) <= 4
}

// replacePhones replaces phone numbers:
//   - international: '+' then 8-15 digits with single space, dash, dot or
//     parenthesis separators ("+1 (555) 123-4567", "+44 20 7946 0958");
//   - North American: "555-123-4567", "555.123.4567", "555 123 4567",
//     "1-555-123-4567", "(555) 123-4567";
//   - national trunk-prefixed: a first group of 2-5 digits starting with 0,
//     then groups of 2-8 digits, one kind of separator, 9-12 digits in all
//     ("020 7946 0958", "06 12 34 56 78", "030-12345678").
//
// Unseparated digit strings are not phones (they are ids, ports, counts),
// nor are versions, dates, times or durations, whose shapes differ.
func replacePhones(s string, plus, paren bool) string {
	r := replacer{s: s}
	for i := 0; i < len(s); {
		c := s[i]
		var j int
		switch {
		case c == '+' && plus:
			j = intlPhone(s, i)
		case c == '(' && paren:
			j = parenPhone(s, i)
		case isDigit(c):
			if !leftOK(s, i) {
				for i < len(s) && isDigit(s[i]) {
					i++
				}
				continue
			}
			var end int
			j, end = nationalPhone(s, i)
			if j < 0 {
				i = end
				continue
			}
		default:
			j = -1
		}
		if j < 0 {
			i++
			continue
		}
		r.replace(i, j, PlaceholderPhone)
		i = j
	}
	return r.result()
}

func intlPhone(s string, i int) int {
	if i > 0 && (isAlnum(s[i-1]) || s[i-1] == '+') {
		return -1
	}
	digits, lastEnd, run := 0, -1, 0
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case isDigit(c):
			digits++
			lastEnd, run = j+1, 0
			continue
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			if run++; run <= 2 {
				continue
			}
		}
		break
	}
	if digits < 8 || digits > 15 || lastEnd < 0 || !isDigit(s[i+1]) && s[i+1] != '(' {
		return -1
	}
	if lastEnd < len(s) && isAlnum(s[lastEnd]) {
		return -1
	}
	return lastEnd
}

// parenPhone matches "(ddd) ddd-dddd" and "(ddd)ddd-dddd" at s[i] == '('.
func parenPhone(s string, i int) int {
	if i > 0 && isAlnum(s[i-1]) || i+5 > len(s) {
		return -1
	}
	if !allDigits(s, i+1, i+4) || s[i+4] != ')' {
		return -1
	}
	j := i + 5
	if j < len(s) && s[j] == ' ' {
		j++
	}
	if j+8 > len(s) || !allDigits(s, j, j+3) || !isSep(s[j+3], "-. ") || !allDigits(s, j+4, j+8) || !rightOK(s, j+8) {
		return -1
	}
	return j + 8
}

// nationalPhone tries North American and trunk-prefixed forms at s[i]. It
// returns the phone's end, or -1 and the end of the digit run to skip.
func nationalPhone(s string, i int) (int, int) {
	g, sep, n, end := digitGroups(s, i, " -.")
	if n < 2 || !rightOK(s, end) {
		return -1, end
	}
	for k := 1; k < n-1; k++ {
		if sep[k] != sep[0] {
			return -1, end
		}
	}
	l := func(k int) int { return g[k][1] - g[k][0] }
	switch {
	case n == 3 && l(0) == 3 && l(1) == 3 && l(2) == 4:
		return end, end
	case n == 4 && l(0) == 1 && s[i] == '1' && l(1) == 3 && l(2) == 3 && l(3) == 4:
		return end, end
	}
	if s[i] != '0' || l(0) < 2 || l(0) > 5 {
		return -1, end
	}
	total := 0
	for k := 0; k < n; k++ {
		if k > 0 && (l(k) < 2 || l(k) > 8) {
			return -1, end
		}
		total += l(k)
	}
	if total < 9 || total > 12 {
		return -1, end
	}
	return end, end
}

func allDigits(s string, i, j int) bool {
	if j > len(s) {
		return false
	}
	for ; i < j; i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
