// Package eval scores investigations of incident bundles against their
// ground truth (ARCHITECTURE.md, "Incident bundle"): it reads a bundle's
// files and truth.json, ranks the root-cause service among an
// investigator's candidates (AC@1/3/5, also on operation and pattern),
// counts accepted false root causes and citations that resolve, and
// computes a trivial baseline beside it: the service/operation whose span
// self time rose most. Running the investigations is the caller's job
// (debugai eval); this package only reads files and compares.
package eval
