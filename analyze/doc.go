// Package analyze owns debugai's analysis pipeline, shared by every entry
// point (the CLI's detect, investigate and eval, and serve): a comparison
// Plan (the incident's windows against a baseline chosen by source: a
// bundle's baseline files, explicit windows, or the window of equal length
// before the incident), Load (the spans, kernel events and lock edges of
// the plan's windows, kernel-only windows included), and Detect (every
// detector family, then the ranking model of detect/explain that scores
// the findings by the share of the incident's change their location
// explains; docs/ranking.md).
package analyze
