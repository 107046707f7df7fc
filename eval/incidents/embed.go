// Package incidents holds incident bundles recorded on a real kernel with
// debugai record (ARCHITECTURE.md, "Incident bundle"): each folder is one
// bundle with its truth.json: the bank bundles (corpus 1) and the shop-*
// bundles of workload/shop (corpus 2, split into Corpus2Dev and
// Corpus2Sealed) and the shop3-* bundles of the same workload at other
// places and in other shapes (corpus 3, split into Corpus3Dev and
// Corpus3Sealed), and the media-* bundles of workload/media, a workload
// the ranking was not developed on (corpus 4, split into Corpus4Dev and
// Corpus4Sealed), and the ride-* bundles of workload/ride, another such
// workload (corpus 5, split into Corpus5Dev and Corpus5Sealed). The convoy bundle is embedded for debugai demo, which
// replays it without root, network or a model.
package incidents

import "embed"

// Demo is the bundle debugai demo replays, under the folder DemoName.
//
//go:embed convoy
var Demo embed.FS

// DemoName is Demo's folder.
const DemoName = "convoy"
