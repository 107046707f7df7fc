package incidents

// Corpus3Dev and Corpus3Sealed are the development and sealed halves of
// corpus 3, the shop3-* bundles recorded from workload/shop (EVAL.md,
// "Corpus 3: development and sealed halves", which states the rule that
// split them). Tune on Corpus3Dev only; score Corpus3Sealed once.
var (
	Corpus3Dev = []string{"shop3-paymentserror", "shop3-payfsync", "shop3-catalogpool", "shop3-ordersretry",
		"shop3-deployv2"}
	Corpus3Sealed = []string{"shop3-stockpanic", "shop3-catalogconvoy", "shop3-pricingloss", "shop3-ordersquota",
		"shop3-loaddown"}
)
