// Package report turns a verified (or unverified) hypothesis and the
// evidence it cites into an incident report, and renders the report as
// Markdown, versioned JSON, SVG charts, GitHub-issue and Jira payloads, and
// an exit code for CI gates.
//
// # Building
//
// [Build] reads the evidence store through evidence.Reader (and, when the
// reader has them, the optional evidence.FindingReader): it resolves every
// cited ID, so the timeline, affected services/endpoints/versions/nodes,
// code sites and commit links come from stored, privacy-filtered
// (tokenized) data only. A citation that does not resolve is shown as
// unresolved, never described. The verdict decides the status: only an
// accepted verdict makes a report [StatusAccepted]; anything else is
// [StatusUnconfirmed], which every renderer presents as a leading
// hypothesis with the verifier's reasons, never as the root cause.
//
// # Commit links
//
// [Build] recognizes, on cited spans and on their resources:
//
//   - vcs.repository.url.full with vcs.ref.head.revision (OpenTelemetry VCS
//     semantic conventions), or with git.commit.sha or git.commit;
//   - a service.version (span or resource) that looks like a commit: 7 to 40
//     hexadecimal digits, at least one of them a letter a-f, joined with the
//     repository from vcs.repository.url.full or Options.RepositoryURL.
//
// A link is made only for an http(s) repository URL, as <repo>/commit/<rev>
// (the form GitHub, GitLab and Gitea share); otherwise the revision is
// listed without a link.
//
// # Renderers
//
// [Markdown] escapes every stored or investigator-written string (HTML
// special characters become entities, Markdown punctuation is
// backslash-escaped, newlines are folded, '@' never starts a mention) and
// puts evidence IDs in code spans. Telemetry strings (services, endpoints,
// versions, nodes, locks, code sites, finding subjects, and any
// double-quoted name) are data, not our prose: wherever they appear,
// inside summaries and claims too, they are rendered as code spans (ADF
// code marks, backticks in titles), at most 200 runes each (quote.go). [JSON] writes schema [Schema] with a fixed field
// order; [Parse] reads it back. [TimelineSVG] and [LatencySVG] draw the
// charts by hand with fixed number formatting, so output is byte-for-byte
// deterministic, and escape all text. [GitHub] builds an issue payload
// whose body is the Markdown report; [Jira] builds a Jira Cloud REST v3
// create-issue payload whose description is Atlassian Document Format
// (ADF), chosen over wiki markup because ADF text nodes are literal: stored
// text cannot inject markup.
//
// # Exit codes
//
// [ExitCode] maps a report status and a --fail-on policy to a process exit
// code for CI gates:
//
//	code  meaning
//	0     ok: nothing the policy fails on
//	1     error (reserved for main: the investigation itself failed)
//	2     usage error (reserved for main: e.g. an unknown --fail-on value)
//	3     a root cause was found and accepted by the verifier
//	4     only an unconfirmed hypothesis was found
//
// Policies: "none" always yields 0; "accepted" yields 3 for an accepted
// report and 0 otherwise; "any" yields 3 for accepted and 4 for
// unconfirmed. The empty status (no hypothesis was produced) yields 0.
package report
