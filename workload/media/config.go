// Package media is debugai's seven-service video platform with real,
// switchable bugs, the workload of corpus 4 (EVAL.md). It is a package of
// its own, unlike workload/shop in domain, topology and instrumentation,
// so that corpus 4 tests the ranking on a program it was not developed
// on: nearly every internal call is gRPC (span names "media.v1.Svc/Method"),
// the cache is a service of its own in front of the store (look-aside:
// the caller reads the store on a miss and fills the cache), the fan-out
// goes to the shards of one index, the queue's consumer spans start new
// traces linked to their producer, and one service is instrumented by
// hand.
//
// The services, one process each (Role), each with its own OTel resource
// (service.name the role, service.version) and the hint span processor
// registered (hint/otelhint):
//
//   - edge (HTTP, otelhttp): GET /watch (a video drawn at random, fixed
//     seed) asks meta GetVideo; GET /feed (the next user) asks recs Feed;
//     POST /upload (the next video) asks ingest Upload.
//   - meta (media.v1.Meta/GetVideo): reads cache Get; on a miss reads
//     the store (Store/Read) and fills the cache (Cache/Set). A policy
//     mutex guards its rights table, taken on every call.
//   - cache (media.v1.Cache/Get, Cache/Set): an in-memory table in
//     CacheShards shards, entries kept CacheTTL, jittered by up to half of
//     it either way.
//   - store (media.v1.Store/Read, Store/Write): the backing store; a read
//     holds the store mutex for ReadHold (its disk), a write briefly (a
//     rendition record written to its file, not synced).
//   - recs (media.v1.Recs/Feed): fans out to the index's Shards shards in
//     parallel (Index/Search with a shard number), waits for all, then
//     ranks the results (span recs.rank, RankRounds of CPU work); the
//     first failed shard cancels the others.
//   - index (media.v1.Index/Search): shard-local search (SearchRounds of
//     CPU work under the shard's read lock). Instrumented by hand, as some
//     services are: no otelgrpc server handler but an interceptor that
//     extracts the W3C trace context and starts a span with no span kind;
//     errors become an exception event and an rpc.grpc.status_code
//     attribute, never a span status.
//   - ingest (media.v1.Ingest/Upload): journals the upload durably on the
//     request path (a 4 KiB record, fdatasync, in DataDir), then publishes
//     a transcode job to its queue (producer span "transcode publish");
//     TranscodeWorkers background workers consume it (consumer span
//     "transcode process", a new trace linked to the producer span): the
//     encoder's answer (EncodeTime times a per-video factor, 0.2 to 1.8)
//     and the rendition written to the store (Store/Write). The jobs
//     outlive the request.
//
// The bugs (Bug), switchable at start and at run time (POST
// /admin/bug?bug=NAME, sent to every service; each acts on its own part),
// each a partial fault where it can be (about a third of the requests):
//
//   - indexpanic (index): searches of shard 2 for every third user throw
//     (a write to a nil map); the interceptor recovers, records the
//     exception event and answers codes.Internal; recs cancels the other
//     shards and fails the feed before ranking; edge answers 502;
//   - shardskip (recs): for every third user a cursor check breaks out of
//     the fan-out after two shards: the other shards' searches are never
//     made, the feed answers 200 as fast, with no status anywhere;
//   - uploadsync (ingest): every third upload also writes its full
//     manifest (ManifestBytes in SyncChunkBytes chunks, each fsynced) on
//     the request path;
//   - metaconvoy (meta): the policy mutex is held across the whole
//     lookup, the store read and cache fill of a miss included: the hits
//     queue behind the misses;
//   - cachemiss (cache): Get looks the keys of every third video up in
//     the wrong shard (a shard count that changed for Get, not Set): they
//     always miss, meta reads the store for them, and the store's reads
//     queue on its mutex;
//   - transcodepool (ingest): the transcode pool shrinks to
//     SaturatedWorkers workers: jobs wait in the queue;
//   - recsquota (recs): recs joins CPUCgroups, which the caller gives a
//     CPU quota;
//   - none.
//
// "debugai workload media" serves one role; "debugai record --scenario
// media-*" runs all seven with the node collector and records bundles.
package media

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Role is which service a process serves.
type Role string

// Roles.
const (
	RoleEdge   Role = "edge"
	RoleMeta   Role = "meta"
	RoleCache  Role = "cache"
	RoleStore  Role = "store"
	RoleRecs   Role = "recs"
	RoleIndex  Role = "index"
	RoleIngest Role = "ingest"
)

// Roles lists every role, leaves first: a service's callees come before it.
var Roles = []Role{RoleStore, RoleCache, RoleIndex, RoleMeta, RoleRecs, RoleIngest, RoleEdge}

// ServesGRPC reports whether the role serves gRPC (all but the edge);
// its ready line names the gRPC address.
func (r Role) ServesGRPC() bool { return r != RoleEdge }

// Callees are the roles r calls over gRPC.
func (r Role) Callees() []Role {
	switch r {
	case RoleEdge:
		return []Role{RoleMeta, RoleRecs, RoleIngest}
	case RoleMeta:
		return []Role{RoleCache, RoleStore}
	case RoleRecs:
		return []Role{RoleIndex}
	case RoleIngest:
		return []Role{RoleStore}
	}
	return nil
}

// Bug is a switchable defect.
type Bug string

// Bugs.
const (
	BugNone          Bug = "none"
	BugIndexPanic    Bug = "indexpanic"
	BugShardSkip     Bug = "shardskip"
	BugUploadSync    Bug = "uploadsync"
	BugMetaConvoy    Bug = "metaconvoy"
	BugCacheMiss     Bug = "cachemiss"
	BugTranscodePool Bug = "transcodepool"
	BugRecsQuota     Bug = "recsquota"
)

// Bugs lists every bug.
var Bugs = []Bug{BugNone, BugIndexPanic, BugShardSkip, BugUploadSync, BugMetaConvoy, BugCacheMiss, BugTranscodePool, BugRecsQuota}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid media configuration")

// ParseBug returns the bug named s.
func ParseBug(s string) (Bug, error) {
	for _, b := range Bugs {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("%w: bug: want one of %v", ErrInvalidConfig, Bugs)
}

// Config configures one service. Start from DefaultConfig.
type Config struct {
	// Role is the service.
	Role Role
	// Version is the deployed version (resource attribute service.version).
	Version string
	// Bug is the defect active at start.
	Bug Bug
	// Addrs are the gRPC addresses (host:port) of the callees the role
	// needs (Role.Callees).
	Addrs map[Role]string
	// DataDir holds ingest's and the store's files ("": the system's
	// temporary directory); it should be on a real disk.
	DataDir string
	// Videos is the number of videos.
	Videos int
	// CacheTTL is how long the cache keeps an entry; CacheShards is its
	// number of shards.
	CacheTTL    time.Duration
	CacheShards int
	// ReadHold is how long a store read holds the store mutex.
	ReadHold time.Duration
	// Shards is the number of index shards a feed fans out to.
	Shards int
	// SearchRounds and RankRounds are SHA-256 rounds over 1 KiB per shard
	// search and per feed ranking.
	SearchRounds, RankRounds int
	// TranscodeWorkers is ingest's worker pool; SaturatedWorkers its size
	// under transcodepool.
	TranscodeWorkers, SaturatedWorkers int
	// EncodeTime is the encoder's mean answer time per job.
	EncodeTime time.Duration
	// ManifestBytes and SyncChunkBytes size uploadsync's manifest write.
	ManifestBytes, SyncChunkBytes int
	// CPUCgroups are cgroup directories recs joins under recsquota; the
	// caller creates them and sets the quota.
	CPUCgroups []string
}

// DefaultConfig is a v1 store without bugs: 32 videos cached for 4 s
// (jittered by up to 2 s either way) in 4 shards, store reads holding the
// store mutex 40 ms, 4 index shards, 60
// rounds per search and 400 per ranking, 8 transcode workers (2 under
// transcodepool) whose encoder answers in 120 ms on average, a 256 KiB
// manifest fsynced per 16 KiB under uploadsync.
func DefaultConfig() Config {
	return Config{Role: RoleStore, Version: "v1", Bug: BugNone, Videos: 32, CacheTTL: 4 * time.Second, CacheShards: 4,
		ReadHold: 40 * time.Millisecond, Shards: 4, SearchRounds: 60, RankRounds: 400,
		TranscodeWorkers: 8, SaturatedWorkers: 2, EncodeTime: 120 * time.Millisecond,
		ManifestBytes: 256 << 10, SyncChunkBytes: 16 << 10}
}

// Validate reports the first problem with c; errors name the field.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	known := false
	for _, r := range Roles {
		known = known || r == c.Role
	}
	switch {
	case !known:
		return bad("role: want one of %v", Roles)
	case c.Version == "":
		return bad("version: required")
	case c.Videos < 3 || c.Videos > 1_000_000:
		return bad("videos %d: want 3 to 1000000", c.Videos)
	case c.CacheTTL < 0 || c.CacheTTL > time.Hour:
		return bad("cache TTL %v: want 0 to 1h", c.CacheTTL)
	case c.CacheShards < 2 || c.CacheShards > 256:
		return bad("cache shards %d: want 2 to 256", c.CacheShards)
	case c.ReadHold < 0 || c.ReadHold > time.Second:
		return bad("read hold %v: want 0 to 1s", c.ReadHold)
	case c.Shards < 3 || c.Shards > 64:
		return bad("index shards %d: want 3 to 64", c.Shards)
	case c.SearchRounds < 0 || c.SearchRounds > 1_000_000 || c.RankRounds < 0 || c.RankRounds > 1_000_000:
		return bad("search rounds %d, rank rounds %d: want 0 to 1000000", c.SearchRounds, c.RankRounds)
	case c.TranscodeWorkers < 1 || c.TranscodeWorkers > 1024 || c.SaturatedWorkers < 1 || c.SaturatedWorkers > c.TranscodeWorkers:
		return bad("transcode workers %d, saturated %d: want 1 to 1024, and 1 to the pool size", c.TranscodeWorkers, c.SaturatedWorkers)
	case c.EncodeTime < 0 || c.EncodeTime > 10*time.Second:
		return bad("encode time %v: want 0 to 10s", c.EncodeTime)
	case c.ManifestBytes < 1 || c.ManifestBytes > 64<<20 || c.SyncChunkBytes < 1 || c.SyncChunkBytes > c.ManifestBytes:
		return bad("manifest bytes %d, sync chunk bytes %d: want 1 to 64 MiB, and 1 to the manifest size", c.ManifestBytes, c.SyncChunkBytes)
	case c.Role == RoleRecs && c.Bug == BugRecsQuota && len(c.CPUCgroups) == 0:
		return bad("cpu cgroups: the %s bug needs cgroups to join", c.Bug)
	}
	if _, err := ParseBug(string(c.Bug)); err != nil {
		return err
	}
	for _, callee := range c.Role.Callees() {
		host, port, err := net.SplitHostPort(c.Addrs[callee])
		if p, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || p == 0 || host == "" {
			return bad("%s address: want host:port", callee)
		}
	}
	if c.DataDir != "" {
		fi, err := os.Stat(c.DataDir)
		if err != nil {
			return bad("data directory: cannot be read")
		}
		if !fi.IsDir() {
			return bad("data directory: not a directory")
		}
	}
	return nil
}
