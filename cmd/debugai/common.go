package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/remote"
	"github.com/debugai/debugai/privacy"
)

// storeFlag registers --store with its default.
func storeFlag(fs *flag.FlagSet, env *cmdEnv) *string {
	return fs.String("store", defaultStore(env), "evidence store file (DuckDB); created on first use; env DEBUGAI_STORE")
}

func defaultStore(env *cmdEnv) string {
	if s := env.getenv("DEBUGAI_STORE"); s != "" {
		return s
	}
	base := env.getenv("XDG_DATA_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "share")
		}
	}
	if base == "" {
		return "debugai.duckdb"
	}
	return filepath.Join(base, "debugai", "evidence.duckdb")
}

// privacyFlags registers the flags that configure the privacy layer.
type privacyFlags struct {
	config  *string
	keyFile *string
}

func addPrivacyFlags(fs *flag.FlagSet, env *cmdEnv) privacyFlags {
	return privacyFlags{
		config:  fs.String("privacy-config", env.getenv("DEBUGAI_PRIVACY_CONFIG"), "privacy policy YAML (default: built-in allowlist, drop unknown keys); env DEBUGAI_PRIVACY_CONFIG"),
		keyFile: fs.String("key-file", "", "HMAC master secret file, created 0600 on first use (default: $XDG_CONFIG_HOME/debugai/hmac.key); env DEBUGAI_HMAC_KEY overrides with the secret itself"),
	}
}

func defaultKeyFile(env *cmdEnv) string {
	base := env.getenv("XDG_CONFIG_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(base, "debugai", "hmac.key")
}

// load builds the redactor from the flags.
func (p privacyFlags) load(env *cmdEnv) (*privacy.Redactor, *privacy.KeyRing, error) {
	cfg := privacy.DefaultConfig()
	if *p.config != "" {
		var err error
		if cfg, err = privacy.LoadConfig(*p.config); err != nil {
			return nil, nil, err
		}
	}
	if *p.keyFile != "" {
		cfg.Keys.File = *p.keyFile
	}
	if cfg.Keys.File == "" || cfg.Keys.File == privacy.DefaultKeyFile {
		cfg.Keys.File = defaultKeyFile(env)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("privacy config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Keys.File), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating key directory: %w", err)
	}
	ring, err := privacy.LoadKeyRing(cfg.Keys, time.Now)
	if err != nil {
		return nil, nil, err
	}
	r, err := privacy.NewRedactor(cfg, ring)
	if err != nil {
		return nil, nil, err
	}
	return r, ring, nil
}

// newLogger logs to w at the level named by --log-level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// openReader opens the store for reading. When a running serve owns the
// file, it reads through that serve's API instead (see package remote).
func openReader(ctx context.Context, path string, logger *slog.Logger) (evidence.Reader, func() error, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("store %s does not exist: run `debugai import` or `debugai serve` first", path)
		}
		return nil, nil, fmt.Errorf("opening store: %w", err)
	}
	st, err := duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true, Logger: logger})
	if err == nil {
		return st, st.Close, nil
	}
	if !errors.Is(err, duckdb.ErrLocked) {
		return nil, nil, err
	}
	state, serr := remote.ReadState(path)
	if serr != nil {
		return nil, nil, fmt.Errorf("store %s is locked by another process and no running serve publishes it (%v): %w", path, serr, err)
	}
	logger.Debug("store is owned by a running serve; reading through its API", "pid", state.PID, "url", state.HTTPURL)
	return remote.NewClient(state), func() error { return nil }, nil
}

// parseFlags parses args, printing usage for --help, and maps flag errors
// to usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// bundleConflicts refuses, with --bundle, the flags a bundle decides
// itself (its temporary store, its incident and baseline files), so that
// none of them is silently ignored.
func bundleConflicts(fs *flag.FlagSet, names ...string) error {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			set = append(set, "--"+f.Name)
		}
	})
	if len(set) > 0 {
		return usagef("%s: --bundle brings its own store, incident and baseline: drop %s", fs.Name(), strings.Join(set, ", "))
	}
	return nil
}

func newFlagSet(name, usage string, env *cmdEnv) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: debugai %s\n\n%s\n\nFlags:\n", name, strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	return fs
}

// readCommand runs a read-only subcommand without arguments: it parses the
// common flags (--store, --json, --log-level), opens the store for reading
// (through a running serve when it owns the file) and calls fn.
func readCommand(ctx context.Context, name, usage string, args []string, env *cmdEnv,
	fn func(r evidence.Reader, store string, asJSON bool) error) (err error) {
	fs := newFlagSet(name, usage, env)
	store := storeFlag(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments, got %q", name, fs.Args())
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	r, closeR, err := openReader(ctx, *store, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeR()) }()
	return fn(r, *store, *asJSON)
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
