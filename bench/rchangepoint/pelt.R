#!/usr/bin/env Rscript
# pelt.R: time R changepoint's PELT on one series, the reference side of
# bench/rchangepoint (see README.md there).
#
# Usage: Rscript bench/rchangepoint/pelt.R FILE [RUNS]
#
# FILE holds one number per line. The series is z-scored with scale(), as
# debugai's changepoint.Standardize does before PELT (untimed), then
# cpt.mean(z, penalty="MBIC", method="PELT", test.stat="Normal",
# class=FALSE) is timed RUNS times (default 5). Each timed sample calls
# cpt.mean enough times back to back to take at least 0.2 s (proc.time has
# millisecond resolution) and records the time per call.
#
# With PELT_R_DUMP=PATH in the environment it also writes the series as
# read (before scale()) to PATH as little-endian float64s, for
# `gotime -check PATH` to confirm both sides parsed the same numbers.
#
# Output, three lines:
#   cps [i,j,...]          change points, 0-based and cleaned as
#                          `debugai changepoints` prints them
#   median_s S             median seconds per cpt.mean call
#   runs_s s1 s2 ...       every sample, seconds per call
suppressPackageStartupMessages(library(changepoint))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1 || length(args) > 2) {
  stop("usage: Rscript pelt.R FILE [RUNS]")
}
runs <- if (length(args) == 2) as.integer(args[2]) else 5L
if (is.na(runs) || runs < 1) stop("RUNS must be a positive integer")

x <- scan(args[1], what = double(), quiet = TRUE)
dump <- Sys.getenv("PELT_R_DUMP")
if (nzchar(dump)) writeBin(x, dump, size = 8, endian = "little")
z <- as.numeric(scale(x))
n <- length(z)

pelt <- function() {
  cpt.mean(z, penalty = "MBIC", method = "PELT", test.stat = "Normal",
           class = FALSE)
}

# Warm-up call; also the output. class=FALSE returns the 1-based segment
# ends, ending with n.
cps <- pelt()
first <- system.time(pelt())[["elapsed"]]
inner <- max(1L, as.integer(ceiling(0.2 / max(first, 1e-3))))

samples <- numeric(runs)
for (r in seq_len(runs)) {
  gc()
  t0 <- proc.time()[["elapsed"]]
  for (i in seq_len(inner)) pelt()
  samples[r] <- (proc.time()[["elapsed"]] - t0) / inner
}

# Same cleaning as changepoint.Clean: 0-based, unique, sorted, 1 <= cp < n-1.
cp0 <- sort(unique(as.integer(cps) - 1L))
cp0 <- cp0[cp0 >= 1L & cp0 < n - 1L]
cat("cps [", paste(sprintf("%d", cp0), collapse = ","), "]\n", sep = "")
cat("median_s", sprintf("%.6f", median(samples)), "\n")
cat("runs_s", sprintf("%.6f", samples), "\n")
