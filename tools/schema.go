package tools

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// schemaFor derives T's JSON schema from its struct fields (json names;
// `jsonschema` tags are descriptions; omitempty fields are optional) and
// restricts the properties named in enums to their values. The top level
// is always an object, as MCP and OpenAI tool calls require.
func schemaFor[T any](enums map[string][]string) (json.RawMessage, error) {
	s, err := jsonschema.For[T](&jsonschema.ForOptions{IgnoreInvalidTypes: true})
	if err != nil {
		return nil, err
	}
	dropNull(s)
	if s.Type != "object" {
		return nil, fmt.Errorf("schema of %T is %q, want an object", *new(T), s.Type)
	}
	for name, vals := range enums {
		p, err := property(s, name)
		if err != nil {
			return nil, err
		}
		target := p
		if p.Type == "array" && p.Items != nil {
			target = p.Items
		}
		target.Enum = make([]any, len(vals))
		for i, v := range vals {
			target.Enum[i] = v
		}
	}
	return json.Marshal(s)
}

// property finds a property by a dotted path ("hypothesis.pattern").
func property(s *jsonschema.Schema, path string) (*jsonschema.Schema, error) {
	cur := s
	for _, name := range strings.Split(path, ".") {
		p, ok := cur.Properties[name]
		if !ok {
			return nil, fmt.Errorf("enum for unknown property %q", path)
		}
		cur = p
	}
	return cur, nil
}

// dropNull turns the ["null", T] types jsonschema.For gives slices, maps
// and pointers into T: answers never hold null (empty lists are [] or
// omitted), and single types are more portable across model providers.
func dropNull(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		for _, t := range s.Types {
			if t != "null" {
				s.Type, s.Types = t, nil
			}
		}
	}
	for _, p := range s.Properties {
		dropNull(p)
	}
	dropNull(s.Items)
	dropNull(s.AdditionalProperties)
}
