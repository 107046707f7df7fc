package incidents

// Corpus5Dev and Corpus5Sealed are the development and sealed halves of
// corpus 5, the ride-* bundles recorded from workload/ride, a ride-hailing
// dispatch system the ranking was not developed on (EVAL.md, "Corpus 5:
// development and sealed halves", which states the rule that split them).
// Tune on Corpus5Dev only; score Corpus5Sealed once.
var (
	Corpus5Dev = []string{"ride-farestale", "ride-dbfsync", "ride-pushpool", "ride-notifyretry",
		"ride-geov2"}
	Corpus5Sealed = []string{"ride-matchpanic", "ride-geoconvoy", "ride-dbloss", "ride-geoquota",
		"ride-loadshift"}
)
