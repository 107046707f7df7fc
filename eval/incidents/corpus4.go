package incidents

// Corpus4Dev and Corpus4Sealed are the development and sealed halves of
// corpus 4, the media-* bundles recorded from workload/media, a workload
// the ranking was not developed on (EVAL.md, "Corpus 4: development and
// sealed halves", which states the rule that split them). Tune on
// Corpus4Dev only; score Corpus4Sealed once.
var (
	Corpus4Dev = []string{"media-indexpanic", "media-uploadsync", "media-transcodepool", "media-storeloss",
		"media-mixshift"}
	Corpus4Sealed = []string{"media-shardskip", "media-metaconvoy", "media-cachemiss", "media-recsquota",
		"media-recsv2"}
)
