// Package verify is the guardrail between an investigator and a published
// root cause: it accepts a hypothesis only if every citation resolves to
// stored evidence inside the incident's scope, the pattern's required
// evidence lines are cited, and at least two independent evidence lines
// back the root-cause claims. Otherwise it rejects with machine-readable
// reasons. Verdicts depend on evidence IDs and stored data only, never on
// text, so instructions planted in span names or attributes cannot change
// them.
package verify
