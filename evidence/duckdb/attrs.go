package duckdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/debugai/debugai/evidence"
)

// The attrs column holds a JSON object whose members keep the attributes'
// order. Kinds survive the round trip: strings are JSON strings, bools JSON
// booleans, ints JSON integers, and floats always carry a '.' or an
// exponent ("3.0", "1e+21"). JSON has no NaN or infinities, so they are
// written as {"$f":"NaN"}, {"$f":"+Inf"} and {"$f":"-Inf"}.

// appendAttrsJSON appends attrs as a JSON object to buf. It appends nothing
// for an empty list (the column is then NULL).
func appendAttrsJSON(buf []byte, attrs evidence.Attrs) []byte {
	if len(attrs) == 0 {
		return buf
	}
	buf = append(buf, '{')
	for i, a := range attrs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, a.Key)
		buf = append(buf, ':')
		buf = appendJSONValue(buf, a.Value)
	}
	return append(buf, '}')
}

func appendJSONValue(buf []byte, v evidence.Value) []byte {
	switch v.Kind {
	case evidence.KindInt:
		return strconv.AppendInt(buf, v.Int, 10)
	case evidence.KindBool:
		return strconv.AppendBool(buf, v.Bool)
	case evidence.KindFloat:
		return appendJSONFloat(buf, v.Float)
	default:
		return appendJSONString(buf, v.Str)
	}
}

func appendJSONFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `{"$f":"NaN"}`...)
	case math.IsInf(f, 1):
		return append(buf, `{"$f":"+Inf"}`...)
	case math.IsInf(f, -1):
		return append(buf, `{"$f":"-Inf"}`...)
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
	if !bytes.ContainsAny(buf[start:], ".e") {
		buf = append(buf, ".0"...)
	}
	return buf
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// decodeAttrs parses what appendAttrsJSON wrote; "" decodes to nil.
func decodeAttrs(s string) (evidence.Attrs, error) {
	if s == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("attrs %q: not a JSON object", s)
	}
	var attrs evidence.Attrs
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("attrs: %w", err)
		}
		key, _ := tok.(string)
		v, err := decodeValue(dec)
		if err != nil {
			return nil, fmt.Errorf("attrs key %q: %w", key, err)
		}
		attrs = append(attrs, evidence.Attr{Key: key, Value: v})
	}
	return attrs, nil
}

func decodeValue(dec *json.Decoder) (evidence.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return evidence.Value{}, err
	}
	switch t := tok.(type) {
	case string:
		return evidence.StringValue(t), nil
	case bool:
		return evidence.BoolValue(t), nil
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			f, err := t.Float64()
			return evidence.FloatValue(f), err
		}
		i, err := t.Int64()
		return evidence.IntValue(i), err
	case json.Delim:
		if t == '{' {
			return decodeSpecialFloat(dec)
		}
	}
	return evidence.Value{}, fmt.Errorf("unexpected %v", tok)
}

// decodeSpecialFloat reads the rest of {"$f":"NaN"|"+Inf"|"-Inf"}.
func decodeSpecialFloat(dec *json.Decoder) (evidence.Value, error) {
	var key, val string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return evidence.Value{}, err
		}
		v, err := dec.Token()
		if err != nil {
			return evidence.Value{}, err
		}
		key, _ = k.(string)
		val, _ = v.(string)
	}
	if _, err := dec.Token(); err != nil {
		return evidence.Value{}, err
	}
	if key == "$f" {
		switch val {
		case "NaN":
			return evidence.FloatValue(math.NaN()), nil
		case "+Inf":
			return evidence.FloatValue(math.Inf(1)), nil
		case "-Inf":
			return evidence.FloatValue(math.Inf(-1)), nil
		}
	}
	return evidence.Value{}, fmt.Errorf("unknown tagged value {%q: %q}", key, val)
}
