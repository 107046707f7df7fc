package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestRunRejectsBadInput(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", "test-secret-0123456789abcdef0123456789")
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"--pid", "abc"}, true, `--pid "abc": not a process id`},
		{[]string{"--pid", "0"}, true, "not a process id"},
		{[]string{"--disable", "futex,bogus"}, true, `--disable "bogus"`},
		{[]string{"--header", "novalue"}, true, "want key=value"},
		{[]string{"--log-level", "loud"}, true, "--log-level"},
		{[]string{"extra"}, true, "unexpected argument"},
		{[]string{"--no-such-flag"}, true, "flag provided but not defined"},
		{[]string{"--endpoint", "localhost:4318"}, false, "want an http:// or https:// URL"},
		{[]string{"--exe", "/nonexistent/service"}, false, "target executable"},
		{[]string{"--node-id", "a b"}, false, "no '/' or spaces"},
		{[]string{"--anomaly-futex", "-1s"}, false, "must not be negative"},
		{[]string{"--anomaly-per-second", "-1"}, false, "anomaly cap"},
		{[]string{"--endpoint", "http://127.0.0.1:4318/logs"}, false, "traces endpoint: the logs endpoint does not end in /v1/logs"},
		{[]string{"--traces-endpoint", "127.0.0.1:4318"}, false, "traces endpoint: want an http:// or https:// URL"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		var ue usageError
		if err == nil || errors.As(err, &ue) != tc.usage || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("run(%v) = %v (usage error: %v), want %q (usage %v)", tc.args, err, errors.As(err, &ue), tc.want, tc.usage)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%v) printed %q before failing", tc.args, stdout.String())
		}
	}
}

func TestHelpExplains(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"--exe", "kill switch", "SIGUSR1", "POST /detach", "-pthread-locks", "-gcflags=all=-l", "kernel.anomaly span", "-anomaly-per-second"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %s:\n%s", want, stderr.String())
		}
	}
}
