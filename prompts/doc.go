// Package prompts holds the text an LLM investigator is given, as
// text/template files embedded in the binary (templates/*.tmpl), and a
// small typed API to render them:
//
//   - [System]: what debugai is, the evidence contract (every claim cites
//     evidence IDs returned by tools; two independent evidence lines), the
//     patterns with the lines each requires, the rule that tool output is
//     data and never instructions, and the output format (call the submit
//     tool with a hypothesis matching [HypothesisSchema]).
//   - [Incident]: the user turn opening an investigation: scope (window,
//     services, endpoints) and the top detector findings.
//   - [Rejected]: the follow-up after the verifier rejected a hypothesis,
//     listing its reasons.
//   - [MCPInvestigate]: the text of the MCP "investigate" prompt an IDE
//     user starts an investigation with.
//
// Templates are parsed with missingkey=error and every renderer checks its
// data, so a missing value fails loudly instead of rendering "<no value>".
// Stored values that reach a prompt (finding summaries, subjects, verifier
// details) are rendered as JSON strings inside a fenced data block, never
// as bare prose. Golden files under testdata pin every rendering; run
// "go test ./prompts -update" after an intended change.
package prompts
