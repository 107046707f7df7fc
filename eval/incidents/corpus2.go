package incidents

// Corpus2Dev and Corpus2Sealed are the development and sealed halves of
// corpus 2, the bundles recorded from workload/shop (EVAL.md, "Corpus 2
// (six services): development and sealed halves", which states the rule
// that split them). Tune on Corpus2Dev only; score Corpus2Sealed once.
var (
	Corpus2Dev = []string{"shop-catalogpanic", "shop-quotepanic", "shop-reservesync", "shop-poolsat",
		"shop-stockloss", "shop-deploycpu", "shop-flagflip"}
	Corpus2Sealed = []string{"shop-dropfulfil", "shop-slowquote", "shop-workerconvoy", "shop-nocache",
		"shop-retrystorm", "shop-neighbour", "shop-loadup"}
)
