package node

import (
	"strings"
	"testing"
)

// A bad endpoint is refused without repeating it: it may carry a token.
func TestValidateDoesNotEchoTheEndpoint(t *testing.T) {
	c := DefaultConfig()
	c.Endpoint = "ftp://user:hunter2secret@example.invalid/v1/logs"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2secret") || !strings.Contains(err.Error(), "export endpoint") {
		t.Fatalf("Validate() = %v; want an error naming the export endpoint, not quoting it", err)
	}
}
