package privacy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Action is what the privacy layer does with one attribute.
type Action string

// Actions. ActionRedact is never configured: it is the audit record of a kept
// or normalized value in which PII was replaced by placeholders.
const (
	ActionKeep      Action = "keep"
	ActionTokenize  Action = "tokenize"
	ActionNormalize Action = "normalize"
	ActionDrop      Action = "drop"
	ActionRedact    Action = "redact"
)

// Source says where an attribute, name or message came from; it is the first
// column of the audit table.
type Source string

// Sources.
const (
	SourceResource  Source = "resource"
	SourceSpan      Source = "span"
	SourceSpanEvent Source = "span_event"
	SourceLog       Source = "log"
	SourceKernel    Source = "kernel"
)

// Normalizer names the normalization a normalize rule applies.
type Normalizer string

// Normalizers. An empty Normalizer is inferred from the key: URL keys
// (url.full, url.path, url.original, http.url, http.target) get URL, SQL keys
// (db.statement, db.query.text) get SQL, every other key gets Message.
const (
	NormalizeURL     Normalizer = "url"
	NormalizeSQL     Normalizer = "sql"
	NormalizeMessage Normalizer = "message"
)

// Bounds enforced by [Config.Validate] and [LoadKeyRing].
const (
	// DefaultRotation is the default epoch length: 30 days.
	DefaultRotation = 720 * time.Hour
	// DefaultLookback is how long previous epochs stay usable by default.
	DefaultLookback = 7 * 24 * time.Hour
	// MinRotation and MaxRotation bound the epoch length.
	MinRotation = time.Hour
	MaxRotation = 10 * 366 * 24 * time.Hour
	// MaxLookback bounds the lookback window (one year).
	MaxLookback = 366 * 24 * time.Hour
	// MaxLookbackEpochs bounds how many rotations a lookback may span
	// (it must be shorter), which bounds the length of [KeyRing.Tokens].
	MaxLookbackEpochs = 32
	// DefaultKeyFile is where the master secret lives when neither the
	// config nor DEBUGAI_HMAC_KEY says otherwise.
	DefaultKeyFile = ".debugai/hmac.key"
)

// Config is the privacy policy.
type Config struct {
	// Keys configures the master secret and its rotation.
	Keys KeyConfig `yaml:"keys"`
	// Attributes are the attribute rules, in order: the first rule that
	// matches a key decides it. LoadConfig places the file's rules before
	// the default rules, so a file can override any default.
	Attributes []Rule `yaml:"attributes"`
	// Default is the action for keys no rule matches: drop unless set.
	Default Action `yaml:"default"`
	// Limits bound string lengths, attributes per item and audit keys per
	// request; zero fields take their defaults.
	Limits Limits `yaml:"limits"`
	// Messages configures the templating of free text.
	Messages MessagesConfig `yaml:"messages"`
}

// MessagesConfig configures free-text templating (see [Redactor.Message]).
type MessagesConfig struct {
	// Words are kept in messages and names besides the built-in vocabulary
	// (case-insensitive): the words of a service's own error texts that the
	// vocabulary lacks. Each is one word of letters.
	Words []string `yaml:"words"`
}

// KeyConfig configures the key ring.
type KeyConfig struct {
	// File holds the master secret. It is created with mode 0600 and 32
	// random bytes on first use when DEBUGAI_HMAC_KEY is unset, and refused
	// when group or other may read it.
	File string `yaml:"file"`
	// Rotation is the epoch length (default 720h = 30 days, between 1h and
	// ten years). Tokens change at every epoch boundary.
	Rotation time.Duration `yaml:"rotation"`
	// Lookback is how long previous epochs stay usable by [KeyRing.Tokens]
	// after they end (default 168h = 7 days, between 0 and 8784h, and
	// shorter than 32 rotations).
	Lookback time.Duration `yaml:"lookback"`
}

// Rule decides the keys it matches.
type Rule struct {
	// Match is an exact attribute key ("user.id") or a prefix ending in
	// ".*" ("rpc.*" matches "rpc.method" but not "rpc").
	Match string `yaml:"match"`
	// Action is keep, tokenize, normalize or drop.
	Action Action `yaml:"action"`
	// Normalizer optionally picks the normalization of a normalize rule:
	// url, sql or message. Empty infers it from the key.
	Normalizer Normalizer `yaml:"normalizer,omitempty"`
}

// DefaultConfig returns the policy debugai ships with.
func DefaultConfig() Config {
	return Config{
		Keys:       KeyConfig{File: DefaultKeyFile, Rotation: DefaultRotation, Lookback: DefaultLookback},
		Attributes: defaultRules(),
		Default:    ActionDrop,
		Limits:     Limits{}.withDefaults(),
	}
}

// LoadConfig reads a YAML policy file. Unknown fields are errors. Fields the
// file leaves out keep their defaults, and the file's attribute rules are
// placed before the default rules (first match wins), so a file only lists
// what it changes. The result is validated.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("loading privacy config: %w", err)
	}
	cfg := DefaultConfig()
	var file Config
	file.Keys = cfg.Keys
	file.Default = cfg.Default
	file.Limits = cfg.Limits
	file.Messages = cfg.Messages
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("loading privacy config %s: %w", path, err)
	}
	cfg.Keys = file.Keys
	cfg.Default = file.Default
	cfg.Limits = file.Limits
	cfg.Messages = file.Messages
	cfg.Attributes = append(file.Attributes, cfg.Attributes...)
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("loading privacy config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports the first problem in c, naming the offending field.
func (c Config) Validate() error {
	if err := c.Keys.validate(); err != nil {
		return err
	}
	switch c.Default {
	case ActionKeep, ActionTokenize, ActionNormalize, ActionDrop:
	default:
		return fmt.Errorf("default: unknown action %q (want keep, tokenize, normalize or drop)", c.Default)
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	for i, w := range c.Messages.Words {
		for j := 0; j < len(w); j++ {
			if !isAlpha(w[j]) {
				return fmt.Errorf("messages.words[%d]: not a word of ASCII letters", i)
			}
		}
		if w == "" {
			return fmt.Errorf("messages.words[%d]: empty", i)
		}
	}
	for i, r := range c.Attributes {
		if err := r.validate(); err != nil {
			return fmt.Errorf("attributes[%d]: %w", i, err)
		}
	}
	return nil
}

func (kc KeyConfig) validate() error {
	switch {
	case kc.Rotation < MinRotation:
		return fmt.Errorf("keys.rotation: %v is shorter than %v", kc.Rotation, MinRotation)
	case kc.Rotation > MaxRotation:
		return fmt.Errorf("keys.rotation: %v is longer than %v", kc.Rotation, MaxRotation)
	case kc.Lookback < 0:
		return fmt.Errorf("keys.lookback: %v is negative", kc.Lookback)
	case kc.Lookback > MaxLookback:
		return fmt.Errorf("keys.lookback: %v is longer than %v", kc.Lookback, MaxLookback)
	case kc.Lookback/kc.Rotation >= MaxLookbackEpochs:
		return fmt.Errorf("keys.lookback: %v spans more than %d epochs of %v", kc.Lookback, MaxLookbackEpochs, kc.Rotation)
	}
	return nil
}

func (r Rule) validate() error {
	m := r.Match
	switch {
	case m == "":
		return errors.New("match: empty")
	case strings.TrimSpace(m) != m:
		return fmt.Errorf("match %q: leading or trailing space", m)
	case m == "*" || m == ".*":
		return fmt.Errorf("match %q: use default for the catch-all action", m)
	}
	if i := strings.IndexByte(m, '*'); i >= 0 && (i != len(m)-1 || !strings.HasSuffix(m, ".*")) {
		return fmt.Errorf("match %q: '*' is only allowed as a trailing \".*\"", m)
	}
	switch r.Action {
	case ActionKeep, ActionTokenize, ActionNormalize, ActionDrop:
	case ActionRedact:
		return fmt.Errorf("action %q: redact is recorded, not configured (want keep, tokenize, normalize or drop)", r.Action)
	default:
		return fmt.Errorf("action %q: unknown (want keep, tokenize, normalize or drop)", r.Action)
	}
	switch r.Normalizer {
	case "":
	case NormalizeURL, NormalizeSQL, NormalizeMessage:
		if r.Action != ActionNormalize {
			return fmt.Errorf("normalizer %q: only valid with action normalize", r.Normalizer)
		}
	default:
		return fmt.Errorf("normalizer %q: unknown (want url, sql or message)", r.Normalizer)
	}
	return nil
}
