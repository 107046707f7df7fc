// Package ride is debugai's ride-hailing dispatch system with real,
// switchable bugs, the workload of corpus 5 (EVAL.md). It is a package of
// its own, unlike workload/shop and workload/media in domain, topology
// and instrumentation, so that corpus 5 tests the ranking on a program it
// was not developed on: one service runs as several replicas (processes
// with the same service.name) behind a client-side round-robin, a request
// crosses five hops, HTTP/JSON and gRPC alternate along the chain, a
// database-like service is reached through client spans carrying db.*
// attributes (its trace context travels in a comment of the statement, as
// sqlcommenter does), an asynchronous hop keeps its consumer span in the
// producer's trace (parent and child), a batch worker handles several
// messages per span, and the edge is instrumented by hand.
//
// The services, one process each (Role; geo runs Config.Replica 0, 1 and
// 2 of its role), each with its own OTel resource (service.name the role,
// service.instance.id, service.version) and the hint span processor:
//
//   - api (HTTP, hand-instrumented: server spans named by route template,
//     "POST /v1/rides/{city}", the status code only as the attribute
//     http.response.status_code, never a span status): POST
//     /v1/rides/{city} asks dispatch POST /dispatch (HTTP/JSON); GET
//     /v1/rides/{id} asks dispatch GET /trips/{id}; POST
//     /v1/drivers/{id}/ping sends the driver's position to a geo replica
//     (ride.v1.Geo/Update, round-robin).
//   - dispatch (HTTP/JSON, otelhttp, span names the route templates):
//     POST /dispatch quotes the fare (ride.v1.Pricing/Quote, gRPC), then
//     asks matcher Match (gRPC); GET /trips/{id} reads the trip from
//     tripdb (SELECT trips).
//   - pricing (ride.v1.Pricing/Quote): the surge table under a read lock
//     and QuoteRounds of CPU work.
//   - matcher (ride.v1.Matcher/Match): asks geo Nearby for Cells cells in
//     parallel (a fan-out over the replicas, round-robin), scores the
//     candidates (span match.score), stores the trip (INSERT trips), then
//     publishes it: a producer span "trips publish" around notifier's
//     POST /publish (HTTP/JSON), retried on 503 up to PublishAttempts.
//   - geo (ride.v1.Geo/Nearby, ride.v1.Geo/Update; three replicas): a
//     driver index under one mutex per replica, NearbyRounds of CPU work
//     outside it.
//   - notifier (HTTP, otelhttp: POST /publish): queues the message; Pushers
//     workers push it (consumer span "trips process", a child of the
//     producer span in the same trace: the push gateway's answer,
//     PushTime times 0.25 to 1.75); a batch worker writes the receipts of
//     every message queued in BatchEvery into tripdb in one span
//     ("receipts flush", linked to each message's producer span; INSERT
//     receipts).
//   - tripdb (database-like, gRPC as its wire protocol, ride.v1.TripDB/Exec
//     with a statement): the tables in memory under a table lock, a
//     write-ahead log on the real disk (DataDir) written per statement and
//     synced by a group commit every GroupCommit. Its server spans are
//     named by statement ("INSERT trips", "SELECT trips") and carry db.*
//     attributes; their parent comes from the statement's comment. Its
//     callers' client spans are made by hand (no otelgrpc on that
//     connection).
//
// The bugs (Bug), switchable at start and at run time (POST
// /admin/bug?bug=NAME; each service acts on its own part, so the recorder
// may send one to a single replica):
//
//   - farestale: dispatch takes a cached fare for every third rider and
//     skips pricing (no error, no latency change).
//   - matchpanic: matcher's scoring throws for every fourth rider (a write
//     to a nil map); the recovery interceptor answers codes.Internal: the
//     trip is neither stored nor published.
//   - dbfsync: tripdb commits every third INSERT on the statement path,
//     SyncBytes written SyncChunkBytes at a time with an fsync after each.
//   - geoconvoy: every fourth Nearby rebuilds its cell (RebuildRounds of
//     CPU work) while holding the index mutex every Nearby and Update takes.
//   - pushpool: notifier's push workers shrink from Pushers to
//     SaturatedPushers.
//   - notifyretry: notifier answers 503 to two of every five publishes.
//
// CPU-quota starvation, packet loss and the controls are the recorder's
// (cmd/debugai record --scenario ride-*), not bugs of the services.
package ride

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Role is one of the services.
type Role string

// Roles.
const (
	RoleAPI      Role = "api"
	RoleDispatch Role = "dispatch"
	RolePricing  Role = "pricing"
	RoleMatcher  Role = "matcher"
	RoleGeo      Role = "geo"
	RoleNotifier Role = "notifier"
	RoleTripDB   Role = "tripdb"
)

// Roles lists every role, callees first.
var Roles = []Role{RoleTripDB, RoleGeo, RolePricing, RoleNotifier, RoleMatcher, RoleDispatch, RoleAPI}

// ServesGRPC reports whether the role serves gRPC (its ready line names
// the gRPC address); the others serve HTTP on their listen address.
func (r Role) ServesGRPC() bool {
	return r == RolePricing || r == RoleMatcher || r == RoleGeo || r == RoleTripDB
}

// Callees are the roles r calls. Geo is given as a list of replica
// addresses; dispatch and notifier (HTTP) as base URLs; the others as
// gRPC host:port.
func (r Role) Callees() []Role {
	switch r {
	case RoleAPI:
		return []Role{RoleDispatch, RoleGeo}
	case RoleDispatch:
		return []Role{RolePricing, RoleMatcher, RoleTripDB}
	case RoleMatcher:
		return []Role{RoleGeo, RoleTripDB, RoleNotifier}
	case RoleNotifier:
		return []Role{RoleTripDB}
	}
	return nil
}

// Bug is a switchable defect.
type Bug string

// Bugs.
const (
	BugNone        Bug = "none"
	BugFareStale   Bug = "farestale"
	BugMatchPanic  Bug = "matchpanic"
	BugDBFsync     Bug = "dbfsync"
	BugGeoConvoy   Bug = "geoconvoy"
	BugPushPool    Bug = "pushpool"
	BugNotifyRetry Bug = "notifyretry"
)

// Bugs lists every bug.
var Bugs = []Bug{BugNone, BugFareStale, BugMatchPanic, BugDBFsync, BugGeoConvoy, BugPushPool, BugNotifyRetry}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid ride configuration")

// ParseBug returns the bug named s.
func ParseBug(s string) (Bug, error) {
	for _, b := range Bugs {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("%w: bug: want one of %v", ErrInvalidConfig, Bugs)
}

// Config configures one service process. Start from DefaultConfig.
type Config struct {
	// Role is the service; Replica numbers its process among the role's
	// (service.instance.id "role-N").
	Role    Role
	Replica int
	// Version is the deployed version (resource attribute service.version).
	Version string
	// Bug is the defect active at start.
	Bug Bug
	// Addrs are the callees' addresses (Role.Callees): HTTP base URLs for
	// dispatch and notifier, host:port for the gRPC ones.
	Addrs map[Role]string
	// GeoAddrs are the geo replicas' gRPC addresses (api and matcher).
	GeoAddrs []string
	// DataDir holds tripdb's log ("": the system's temporary directory);
	// it should be on a real disk.
	DataDir string
	// Cells is matcher's fan-out to geo per match.
	Cells int
	// QuoteRounds, NearbyRounds, ScoreRounds and RebuildRounds are SHA-256
	// rounds over 1 KiB: a quote, a lookup outside the index mutex, a
	// match's scoring, a geoconvoy rebuild under it.
	QuoteRounds, NearbyRounds, ScoreRounds, RebuildRounds int
	// PublishAttempts bounds matcher's attempts per publish.
	PublishAttempts int
	// Pushers is notifier's push worker pool; SaturatedPushers its size
	// under pushpool; PushTime the push gateway's mean answer time.
	Pushers, SaturatedPushers int
	PushTime                  time.Duration
	// BatchEvery is how often the receipts batch worker flushes.
	BatchEvery time.Duration
	// GroupCommit is how often tripdb syncs its log.
	GroupCommit time.Duration
	// SyncBytes and SyncChunkBytes size dbfsync's synced commit.
	SyncBytes, SyncChunkBytes int
}

// DefaultConfig is a v1 tripdb without bugs: 4 cells per match, 40 rounds
// per quote, 80 per lookup, 150 per scoring and 1500 per rebuild, 4
// publish attempts, 8 pushers (1 under pushpool) answered in 40 ms on
// average, receipts flushed every 250 ms, a group commit every 20 ms, a
// 128 KiB commit fsynced per 4 KiB under dbfsync.
func DefaultConfig() Config {
	return Config{Role: RoleTripDB, Version: "v1", Bug: BugNone, Cells: 4,
		QuoteRounds: 40, NearbyRounds: 80, ScoreRounds: 150, RebuildRounds: 1500, PublishAttempts: 4,
		Pushers: 8, SaturatedPushers: 1, PushTime: 40 * time.Millisecond, BatchEvery: 250 * time.Millisecond,
		GroupCommit: 20 * time.Millisecond, SyncBytes: 128 << 10, SyncChunkBytes: 4 << 10}
}

// InstanceID is the process's service.instance.id.
func (c *Config) InstanceID() string { return string(c.Role) + "-" + strconv.Itoa(c.Replica) }

// Validate reports the first problem with c; errors name the field,
// never its value.
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
	case c.Replica < 0 || c.Replica > 63:
		return bad("replica: want 0 to 63")
	case c.Version == "":
		return bad("version: required")
	case c.Cells < 1 || c.Cells > 64:
		return bad("cells: want 1 to 64")
	case c.QuoteRounds < 0 || c.NearbyRounds < 0 || c.ScoreRounds < 0 || c.RebuildRounds < 0 ||
		max(c.QuoteRounds, c.NearbyRounds, c.ScoreRounds, c.RebuildRounds) > 1_000_000:
		return bad("rounds: want 0 to 1000000")
	case c.PublishAttempts < 1 || c.PublishAttempts > 10:
		return bad("publish attempts: want 1 to 10")
	case c.Pushers < 1 || c.Pushers > 1024 || c.SaturatedPushers < 1 || c.SaturatedPushers > c.Pushers:
		return bad("pushers: want 1 to 1024, and the saturated pool 1 to the pool size")
	case c.PushTime < 0 || c.PushTime > 10*time.Second:
		return bad("push time: want 0 to 10s")
	case c.BatchEvery < time.Millisecond || c.BatchEvery > time.Minute:
		return bad("batch interval: want 1ms to 1m")
	case c.GroupCommit < time.Millisecond || c.GroupCommit > time.Minute:
		return bad("group commit: want 1ms to 1m")
	case c.SyncBytes < 1 || c.SyncBytes > 64<<20 || c.SyncChunkBytes < 1 || c.SyncChunkBytes > c.SyncBytes:
		return bad("sync bytes: want 1 to 64 MiB, and the chunk 1 to the sync size")
	}
	if _, err := ParseBug(string(c.Bug)); err != nil {
		return err
	}
	for _, callee := range c.Role.Callees() {
		if callee == RoleGeo {
			if len(c.GeoAddrs) == 0 {
				return bad("geo addresses: at least one replica required")
			}
			for _, a := range c.GeoAddrs {
				if !hostPort(a) {
					return bad("geo addresses: want host:port")
				}
			}
			continue
		}
		a := c.Addrs[callee]
		if callee == RoleDispatch || callee == RoleNotifier {
			u, err := url.Parse(a)
			if err != nil || u.Scheme != "http" || !hostPort(u.Host) {
				return bad("%s address: want http://host:port", callee)
			}
			continue
		}
		if !hostPort(a) {
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

// hostPort reports whether a is host:port with a port above 0.
func hostPort(a string) bool {
	host, port, err := net.SplitHostPort(a)
	p, perr := strconv.ParseUint(port, 10, 16)
	return err == nil && perr == nil && p > 0 && host != "" && !strings.ContainsAny(host, "/ ")
}
