package main

import (
	"context"
	"fmt"
)

const tokenUsage = `token [flags] VALUE...

Prints the privacy tokens that stand for each VALUE (a user id, an address,
...) in the store: the current epoch's token first, then those of earlier
epochs still inside the lookback window. Query the store for any of them to
follow one identifier across a key rotation; the raw value is never stored.
Needs the same key (DEBUGAI_HMAC_KEY or --key-file) as the serve or import
that wrote the store.`

func runToken(_ context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("token", tokenUsage, env)
	pf := addPrivacyFlags(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("token: no value given")
	}
	_, ring, err := pf.load(env)
	if err != nil {
		return err
	}
	for _, v := range fs.Args() {
		for _, t := range ring.Tokens(v) {
			fmt.Fprintln(env.stdout, t)
		}
	}
	return nil
}
