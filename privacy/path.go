package privacy

import (
	"net/url"
	"strings"
)

// Path segment placeholders.
const (
	PlaceholderID   = "{id}"
	PlaceholderUUID = "{uuid}"
)

// TemplatePath replaces the variable segments of a URL path by placeholders
// and keeps the static ones: "/orders/123" becomes "/orders/{id}". Query and
// fragment are removed, and so are matrix parameters (";jsessionid=...").
// A segment becomes
//
//   - "{uuid}" when it is a UUID;
//   - "{email}" when it holds an '@' (also percent-encoded), "{ipv4}" when it
//     is an IPv4 address;
//   - "{id}" when it is a number, a hex string of 8+ characters with a
//     digit, a token of 16+ characters with a digit, a mixed-case token of
//     10+ characters with a digit, or any other segment with 4+ digits other
//     than a version ("v1", "v2beta1");
//
// and a trailing file extension is kept ("{id}.json"). Segments such as
// "v1", "api", "traces" or "oauth2" are static. TemplatePath is idempotent
// and returns p itself when nothing changes.
func TemplatePath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	var b strings.Builder
	changed := false
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[start:i]
		out := templateSegment(seg)
		if out != seg && !changed {
			changed = true
			b.Grow(len(p))
			b.WriteString(p[:start])
		}
		if changed {
			b.WriteString(out)
			if i < len(p) {
				b.WriteByte('/')
			}
		}
		start = i + 1
	}
	if !changed {
		return p
	}
	return b.String()
}

func templateSegment(seg string) string {
	if seg == "" {
		return seg
	}
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
		if seg == "" {
			return seg
		}
	}
	if seg[0] == '{' && seg[len(seg)-1] == '}' {
		return seg
	}
	if strings.IndexByte(seg, '%') >= 0 {
		if u, err := url.PathUnescape(seg); err == nil {
			if strings.IndexByte(u, '@') >= 0 {
				return PlaceholderEmail
			}
			if u != seg && classifySegment(u) != "" {
				return PlaceholderID
			}
		}
	}
	if strings.IndexByte(seg, '@') >= 0 {
		return PlaceholderEmail
	}
	if ph := classifySegment(seg); ph != "" {
		return ph
	}
	// "123.json", "{id}.json": template the stem, keep a short extension.
	if dot := strings.LastIndexByte(seg, '.'); dot > 0 && len(seg)-dot-1 >= 1 && len(seg)-dot-1 <= 5 && allAlpha(seg[dot+1:]) {
		stem := seg[:dot]
		if stem[0] == '{' && stem[len(stem)-1] == '}' {
			return seg
		}
		if ph := classifySegment(stem); ph != "" {
			return ph + seg[dot:]
		}
	}
	return seg
}

// classifySegment returns the placeholder for a variable segment, or "".
func classifySegment(seg string) string {
	if isUUID(seg) {
		return PlaceholderUUID
	}
	var digits, lowers, uppers, others int
	hex := true
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case isDigit(c):
			digits++
		case c >= 'a' && c <= 'z':
			lowers++
			hex = hex && c <= 'f'
		case c >= 'A' && c <= 'Z':
			uppers++
			hex = hex && c <= 'F'
		default:
			others++
			hex = false
		}
	}
	switch {
	case digits == 0:
		return ""
	case digits == len(seg):
		return PlaceholderID
	case isIPv4(seg):
		return PlaceholderIPv4
	case hex && len(seg) >= 8:
		return PlaceholderID
	case isVersion(seg):
		return ""
	case len(seg) >= 16 && others <= len(seg)/4:
		return PlaceholderID
	case len(seg) >= 10 && lowers > 0 && uppers > 0 && others == 0:
		return PlaceholderID
	case digits >= 4:
		return PlaceholderID
	}
	return ""
}

// isVersion reports "v1", "v2", "v1beta1", "v1.2": a 'v' then a digit, at
// most 8 characters.
func isVersion(seg string) bool {
	return len(seg) >= 2 && len(seg) <= 8 && (seg[0] == 'v' || seg[0] == 'V') && isDigit(seg[1])
}

func isIPv4(s string) bool {
	return len(s) >= 7 && len(s) <= 15 && replaceIPv4(s) == PlaceholderIPv4
}

func allAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

// isUUID reports the canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// normalizeURL keeps only the path template of a URL or request target:
// scheme, userinfo, host, port, query and fragment are removed. An
// authority-only URL becomes "/".
func normalizeURL(u string) string {
	out := normalizeURLOnce(u)
	for range 4 { // odd inputs (":;//" -> "://") may need another pass
		next := normalizeURLOnce(out)
		if next == out {
			break
		}
		out = next
	}
	return out
}

func normalizeURLOnce(u string) string {
	if i := strings.Index(u, "://"); i >= 0 && !strings.ContainsAny(u[:i], "/?#") {
		rest := u[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return "/"
		}
		u = rest[j:]
	} else if strings.HasPrefix(u, "//") { // scheme-relative
		rest := u[2:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return "/"
		}
		u = rest[j:]
	}
	out := TemplatePath(u)
	if strings.HasPrefix(out, "//") { // never leave what reads as an authority
		out = "/" + strings.TrimLeft(out, "/")
	}
	return out
}
