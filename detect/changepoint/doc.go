// Package changepoint finds change points in a univariate latency series
// with three offline detectors that reproduce, bit for bit, the reference
// implementations used by the Turing Change Point Detection benchmark
// (TCPDBench, van den Burg & Williams 2020) with its default settings:
//
//   - [PELT]: R changepoint 2.2.2 cpt.mean(x, penalty="MBIC", method="PELT",
//     test.stat="Normal"), minimum segment length 1.
//   - [BinSeg]: the same cost and penalty with binary segmentation, at most
//     Q changes (cpt.mean(..., method="BinSeg", Q=5)).
//   - [BOCPD]: R ocp 0.1.1 onlineCPD with a Normal-Gamma model, a constant
//     hazard and the change points of the most probable run-length path
//     (maxCPs).
//
// As in TCPDBench, every detector first z-scores the series the way R's
// scale() does (mean and sample standard deviation, n-1), unless the
// configuration turns that off. R accumulates sums, cumulative sums and
// means in x87 80-bit long double; this package emulates that arithmetic
// exactly, so that near-ties are broken the way R breaks them.
//
// Index conventions follow what TCPDBench records, shifted to 0-based:
// PELT and BinSeg return the last index of every segment, so the list ends
// with n-1; BOCPD returns the first index of every run of the most probable
// run-length path, so the list starts with 0. [Clean] reduces either form
// to the change points TCPDBench scores: those with 1 <= cp < n-1.
//
// Missing values (NaN) are rejected with [ErrMissingValue], as R changepoint
// (checkData) and ocp (missPts="none") reject them in TCPDBench's default
// runs. Series with several dimensions are out of scope for PELT and BinSeg
// (TCPDBench skips them); [BOCPDMulti] handles them the way ocp does with
// multivariate=TRUE.
package changepoint
