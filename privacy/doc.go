// Package privacy turns raw telemetry into payload-free evidence: it decides,
// for every attribute, name and message that ingest hands it, what may reach
// the evidence store, and it counts every decision for the audit table.
//
// # Policy
//
// A [Config] holds an ordered list of attribute rules (first match wins; a
// rule matches one exact key, or every key under a prefix written "rpc.*")
// and a default action for keys no rule names (drop). The actions are:
//
//   - keep: an allowlisted OpenTelemetry semantic-convention key. String
//     values are still scanned for PII; matches become typed placeholders
//     ("{email}", "{ipv4}", "{ipv6}", "{card}", "{jwt}", "{credential}",
//     "{cloud_key}", "{phone}") and the decision is counted as redact.
//   - tokenize: identifiers of people and addresses (user, tenant, session,
//     client and peer addresses, ...) are replaced by keyed HMAC tokens.
//   - normalize: URLs keep only their path template ("/orders/{id}"): scheme,
//     host, userinfo, query and fragment are dropped (the host belongs in
//     server.address, which is tokenized); SQL keeps only its fingerprint
//     (literals replaced by "?"); status and exception messages keep their
//     shape but lose their values (see [Redactor.Message]).
//   - drop: the attribute never reaches the store. exception.stacktrace is
//     dropped by default because stack traces carry argument values.
//
// # Free text
//
// Messages keep their shape, never their words: [Redactor.Message] replaces
// values by typed placeholders and every word that is neither in the
// vocabulary (vocab.go, plus [MessagesConfig.Words]) nor code-shaped by
// {word}. Names of several words follow the same rule; a name of one token
// is an identifier and stays. Keys that are not identifiers ([ValidKey]) are
// dropped and counted under [KeyInvalid]. debugai.* attributes are kept
// only under the keys and with the value shapes of docs/kernel-events.md.
//
// [Limits] bound what one sender can make the store keep: lengths of names,
// values, messages and statements (cut on a rune boundary, ending in "…",
// after a scan of at most four times the limit that never ends inside a
// token), attributes read per item, and distinct keys per request's audit.
// Each cut is counted ([ActionTruncate], [KeyAttributesOverCap],
// [KeyAuditOverCap]).
//
// [DefaultConfig] is the policy debugai ships; [LoadConfig] reads a YAML file
// whose rules take precedence over the defaults.
//
// # Tokens and key rotation
//
// A token is "tok:<key-id>:<mac>", where mac is the base64url (no padding)
// form of the first 12 bytes of HMAC-SHA256(epoch key, value). Epoch keys are
// derived from one master secret with HKDF-SHA256; the epoch number is the
// Unix time divided by the rotation period, so every process that shares the
// secret derives the same key at the same time. The key id is
// "e<epoch>.<fingerprint>", the fingerprint being six hex digits derived
// one-way from the secret, so tokens made under different secrets or epochs
// never collide and an operator can tell which key made a token.
//
// Rotation changes every token, which is the point: a stored token cannot be
// linked to tokens made after the lookback window. Within the window one
// identifier can still be followed across a rotation without ever storing it
// raw: [KeyRing.Tokens] returns its token under every epoch still inside the
// lookback window, current first, and a user or tool queries the store for
// any of them.
//
// # Performance and concurrency
//
// [Redactor] and [KeyRing] are safe for concurrent use. Cheap byte-level
// pre-checks guard every detector, values that need no change are returned
// without allocation, and bounded caches hold recent results for repeated
// short values (span names, routes, SQL, messages, tokens). The token cache is
// checked against the current key id, so a rotation never serves a stale
// token. [Counts] is per batch and not safe for concurrent use.
package privacy
