// Package stattest holds the two-sample tests and multiple-testing
// corrections the detectors use, each reproducing a reference
// implementation so results can be checked against published tools:
//
//   - [KS2Samp]: the two-sample Kolmogorov–Smirnov test of scipy 1.10.1
//     (scipy.stats.ks_2samp) for methods exact, asymp and auto and the
//     alternatives two-sided, less and greater, statistic and p-value,
//     including scipy's lattice-path counts, its 'auto' rule and its fall
//     back to the asymptotic distribution when the exact one is too
//     expensive or overflows.
//   - [BenjaminiHochberg]: statsmodels' multipletests(method="fdr_bh").
//
// Where scipy relies on the Cephes library (Gamma, lgam, beta, binom) this
// package ports those routines, so p-values agree with scipy to about
// 1e-15 relative, not just to the number of digits a user reads.
package stattest
