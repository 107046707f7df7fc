// Package attribution explains a latency change: it splits the change of a
// latency statistic between two groups of traces (two versions, or a
// baseline and an incident window) into per-component Shapley
// contributions, and it finds the attribute values (host, version, kernel,
// region, endpoint, ...) that are over-represented among slow items.
//
// # Shapley attribution
//
// Each item (a trace or a span) is a vector of k ≤ [MaxComponents]
// component times — e.g. self/CPU, lock wait, network, I/O, run queue,
// other — whose sum is its total latency. [Attribute] takes group A
// (before) and group B (after) and a [Statistic] of the total (mean, a
// quantile such as p50 or p95, or max) and returns each component's Shapley
// value in the cooperative game
//
//	v(S) = stat(total of items whose components in S come from B and the rest from A)
//
// computed exactly over all 2^k coalitions:
//
//	φ_c = Σ_{S ⊆ N∖{c}} |S|!(k−|S|−1)!/k! · (v(S ∪ {c}) − v(S)).
//
// Efficiency holds by construction: v(∅) is stat(A) and v(N) is stat(B)
// computed on the full groups, so the contributions sum to stat(B) − stat(A)
// (up to floating-point rounding).
//
// For the mean the game is additive and v(S) is computed from the
// per-component means of the full groups: each contribution is exactly that
// component's mean delta, mean_B(c) − mean_A(c), whatever the pairing.
//
// Quantiles are not additive, so v(S) needs items built from one item of A
// and one of B. The pairing is deterministic quantile matching by rank of
// total: with m = min(|A|, |B|, [Config.MaxGrid]) grid levels
// u_i = (i+½)/m, pair i joins the item of A whose total has rank
// ⌊u_i·|A|⌋ among A's totals (ties by input order) with the item of B at
// rank ⌊u_i·|B|⌋ among B's. Each hybrid item takes its components in S from
// its B item and the others from its A item, and v(S) is the statistic over
// the m hybrid totals. Whole items are paired, not each component's
// marginal distribution on its own: per-component quantile matching would
// make every component comonotone with every other and destroy the joint
// structure (a lock wait that only occurs in slow traces) that makes
// quantiles non-additive in the first place.
//
// Limits of the pairing, documented rather than hidden:
//
//   - It assumes the change preserves ranks: A's p95 trace is compared with
//     B's p95 trace. When a change reorders traces (fast requests becoming
//     slow and slow ones fast) hybrid items mix unrelated traces.
//   - When |A| ≠ |B| or either exceeds MaxGrid the larger group is
//     subsampled at m ranks, so the grid's own stat(A) and stat(B) can
//     differ slightly from the full groups'. The endpoints v(∅) and v(N)
//     are anchored to the full-group statistics; the grid's discrepancy,
//     reported as [Attribution.GridError], is thereby shared equally among
//     the components (each component's first and last marginal carry weight
//     1/k). It is zero when |A| = |B| ≤ MaxGrid.
//   - Attribution is descriptive: a component's contribution says how much
//     of the change follows that component under this coupling, not why.
//
// The change of the totals' distribution is also tested with the
// two-sample Kolmogorov–Smirnov test ([stattest.KS2Samp]); a
// "latency_attribution" finding is produced only when that test rejects at
// [Config.Alpha] and the statistic changes by at least
// [Config.MinRelChange] of stat(A).
//
// # Dimension slicing
//
// [Slice] takes items labelled slow or not (above a latency quantile, see
// [LabelSlow], or in an incident window versus a baseline) with their
// dimension values, and for each (dimension, value) builds the 2×2 table
// value vs rest × slow vs not slow over the items that carry the dimension.
// It tests over-representation one-sided: Fisher's exact test (the
// hypergeometric upper tail, [FisherGreater]) when the table is small —
// any expected cell count below [Config.MinExpected] (Cochran's rule) or at
// most [Config.ExactMaxN] items — and the pooled two-proportion z-test
// ([TwoProportionZ]) otherwise. Benjamini–Hochberg
// ([stattest.BenjaminiHochberg]) controls the false discovery rate at
// Config.Alpha across every tested pair; pairs rejected by it whose lift
// P(slow | value) / P(slow) reaches [Config.MinLift] are reported, largest
// lift first, as "dimension_overrepresented" findings (subject
// "host=h2").
//
// The package is pure computation: no store, no I/O, deterministic output.
package attribution
