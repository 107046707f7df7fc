package media

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Full method names of the calls between the services.
const (
	storeRead    = "/" + StoreService + "/Read"
	storeWrite   = "/" + StoreService + "/Write"
	cacheGet     = "/" + CacheService + "/Get"
	cacheSet     = "/" + CacheService + "/Set"
	indexSearch  = "/" + IndexService + "/Search"
	metaGetVideo = "/" + MetaService + "/GetVideo"
	recsFeed     = "/" + RecsService + "/Feed"
	ingestUpload = "/" + IngestService + "/Upload"
)

// maxUser bounds the user numbers the edge sends.
const maxUser = 1 << 30

// watch serves the edge's GET /watch: a video drawn at random (fixed
// seed), its metadata from meta.
func (s *Service) watch(w http.ResponseWriter, r *http.Request) {
	s.rngMu.Lock()
	video := s.rng.IntN(s.cfg.Videos)
	s.rngMu.Unlock()
	out, err := invoke(r.Context(), s.conns[RoleMeta], metaGetVideo, map[string]float64{"video": float64(video)})
	if err != nil {
		http.Error(w, "asking meta: "+status.Code(err).String(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%d\n", int64(out["size"]))
}

// feed serves the edge's GET /feed: the next user's feed from recs.
func (s *Service) feed(w http.ResponseWriter, r *http.Request) {
	user := (s.nextUser.Add(1) - 1) % maxUser
	out, err := invoke(r.Context(), s.conns[RoleRecs], recsFeed, map[string]float64{"user": float64(user)})
	if err != nil {
		http.Error(w, "asking recs: "+status.Code(err).String(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%d items\n", int64(out["items"]))
}

// upload serves the edge's POST /upload: the next video handed to ingest.
func (s *Service) upload(w http.ResponseWriter, r *http.Request) {
	video := (s.nextUpload.Add(1) - 1) % int64(s.cfg.Videos)
	if _, err := invoke(r.Context(), s.conns[RoleIngest], ingestUpload, map[string]float64{"video": float64(video)}); err != nil {
		http.Error(w, "asking ingest: "+status.Code(err).String(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintln(w, "uploaded")
}

// getVideo serves meta's GetVideo: the rights check under the policy
// mutex, the cache, and on a miss the store and a cache fill. Under
// metaconvoy the policy mutex is held across all of it.
func (s *Service) getVideo(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	convoy := s.Bug() == BugMetaConvoy
	s.policyMu.Lock()
	allowed := s.rights[video]
	if convoy {
		defer s.policyMu.Unlock() // the whole lookup under the policy mutex
	} else {
		s.policyMu.Unlock()
	}
	if !allowed {
		return answer(map[string]float64{"size": 0}), nil // not licensed here: an empty answer
	}
	key := map[string]float64{"video": float64(video)}
	got, err := invoke(ctx, s.conns[RoleCache], cacheGet, key)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "reading the cache")
	}
	if got["hit"] == 1 {
		return answer(map[string]float64{"size": got["size"]}), nil
	}
	rec, err := invoke(ctx, s.conns[RoleStore], storeRead, key)
	if err != nil {
		return nil, status.Error(codes.Unavailable, "reading the store")
	}
	if _, err := invoke(ctx, s.conns[RoleCache], cacheSet, map[string]float64{"video": float64(video), "size": rec["size"]}); err != nil {
		return nil, status.Error(codes.Unavailable, "filling the cache")
	}
	return answer(map[string]float64{"size": rec["size"]}), nil
}

// shardOf is the cache shard of a video; under cachemiss Get looks every
// third video up one shard off (a shard count that changed for Get, not
// for Set), where it never is.
func (s *Service) shardOf(video int, get bool) *cacheShard {
	i := video % len(s.shards)
	if get && s.Bug() == BugCacheMiss && video%3 == 0 {
		i = (video + 1) % len(s.shards)
	}
	return &s.shards[i]
}

// cacheGet serves the cache's Get.
func (s *Service) cacheGet(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	sh := s.shardOf(video, true)
	sh.mu.Lock()
	e, ok := sh.m[video]
	sh.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		return answer(map[string]float64{"hit": 0}), nil
	}
	return answer(map[string]float64{"hit": 1, "size": float64(e.size)}), nil
}

// cacheSet serves the cache's Set: the entry kept Config.CacheTTL.
func (s *Service) cacheSet(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	size, err := intField(req, "size", 1<<40)
	if err != nil {
		return nil, err
	}
	sh := s.shardOf(video, false)
	sh.mu.Lock()
	sh.m[video] = entry{size: int64(size), expires: time.Now().Add(s.ttl())}
	sh.mu.Unlock()
	return answer(nil), nil
}

// ttl is an entry's lifetime: Config.CacheTTL jittered by up to a half
// either way (a fixed sequence), so that entries filled together do not
// expire together.
func (s *Service) ttl() time.Duration {
	n := s.sets.Add(1)
	return s.cfg.CacheTTL/2 + s.cfg.CacheTTL*time.Duration(n*37%100)/100
}

// storeRead serves the store's Read: the record, read under the store
// mutex held Config.ReadHold (the store's disk).
func (s *Service) storeRead(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	s.reads.Add(1)
	if f := s.onRead.Load(); f != nil {
		(*f)()
	}
	s.storeMu.Lock()
	time.Sleep(s.cfg.ReadHold)
	size := s.sizes[video]
	s.storeMu.Unlock()
	return answer(map[string]float64{"size": float64(size)}), nil
}

// storeWrite serves the store's Write: a rendition counted under the
// store mutex and its record written to the page cache.
func (s *Service) storeWrite(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	s.storeMu.Lock()
	s.sizes[video] += 1 << 10
	s.storeMu.Unlock()
	if err := s.renditions.write(int64(video), lightBytes, lightBytes, noSync); err != nil {
		return nil, status.Error(codes.Internal, "writing the rendition")
	}
	return answer(nil), nil
}

// recsFeed serves recs' Feed: every index shard searched in parallel, the
// first failure cancelling the others, then the ranking (span recs.rank).
// Under shardskip, for every third user a cursor check breaks out of the
// fan-out after two shards.
func (s *Service) recsFeed(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	user, err := intField(req, "user", maxUser)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	skip := s.Bug() == BugShardSkip
	var wg sync.WaitGroup
	hits := make([]float64, s.cfg.Shards)
	errs := make([]error, s.cfg.Shards)
	for shard := range s.cfg.Shards {
		if skip && shard >= 2 && user%3 == 1 {
			break // the defect: the cursor reads as exhausted
		}
		wg.Go(func() {
			out, err := invoke(ctx, s.conns[RoleIndex], indexSearch, map[string]float64{"user": float64(user), "shard": float64(shard)})
			if err != nil {
				errs[shard] = err
				cancel()
				return
			}
			hits[shard] = out["hits"]
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, status.Error(codes.Internal, "searching the index")
		}
	}
	_, span := s.tracer.Start(ctx, "recs.rank")
	sum := burn(s.cfg.RankRounds, user)
	span.End()
	items := float64(sum[0] % 4)
	for _, h := range hits {
		items += h
	}
	return answer(map[string]float64{"items": items}), nil
}

// search serves the index's Search: shard-local CPU work under the
// shard's read lock. Under indexpanic shard 2 throws for every third user.
func (s *Service) search(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	user, err := intField(req, "user", maxUser)
	if err != nil {
		return nil, err
	}
	shard, err := intField(req, "shard", s.cfg.Shards)
	if err != nil {
		return nil, err
	}
	if s.Bug() == BugIndexPanic && shard == 2 && user%3 == 0 {
		var postings map[int]int
		postings[user]++ // a write to a nil map: the exception
	}
	s.shardMu[shard].RLock()
	sum := burn(s.cfg.SearchRounds, user*64+shard)
	s.shardMu[shard].RUnlock()
	return answer(map[string]float64{"hits": float64(1 + sum[0]%8)}), nil
}

// ingestUpload serves ingest's Upload: the upload journaled durably
// (fdatasync), then a transcode job published (producer span). Under
// uploadsync every third upload also writes its manifest, each chunk
// fsynced.
func (s *Service) ingestUpload(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	video, err := intField(req, "video", s.cfg.Videos)
	if err != nil {
		return nil, err
	}
	n := s.uploads.Add(1)
	if err := s.uploadLog.write(int64(video), lightBytes, lightBytes, dataSync); err != nil {
		return nil, status.Error(codes.Internal, "journaling the upload")
	}
	if s.Bug() == BugUploadSync && n%3 == 0 {
		if err := s.uploadLog.write(int64(video), s.cfg.ManifestBytes, s.cfg.SyncChunkBytes, fullSyncs); err != nil {
			return nil, status.Error(codes.Internal, "writing the manifest")
		}
	}
	_, span := s.tracer.Start(ctx, "transcode publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.system", "inproc"), attribute.String("messaging.destination.name", "transcode"),
		attribute.String("messaging.operation.type", "send")))
	defer span.End()
	s.pending.Add(1)
	select {
	case s.jobs <- job{video: video, link: span.SpanContext()}:
		return answer(nil), nil
	default:
		s.pending.Add(-1)
		span.SetStatus(otelcodes.Error, "queue full")
		return nil, status.Error(codes.ResourceExhausted, "the transcode queue is full")
	}
}

// drainLimit bounds how long Close lets the workers drain the queue.
const drainLimit = 5 * time.Second

// transcodeLoop is background worker id: under transcodepool only the
// first Config.SaturatedWorkers take jobs.
func (s *Service) transcodeLoop(id int) {
	for {
		changed := *s.bugChanged.Load()
		if s.Bug() == BugTranscodePool && id >= s.cfg.SaturatedWorkers {
			select {
			case <-s.stop:
				return
			case <-changed:
				continue
			}
		}
		select {
		case <-s.stop:
			deadline := time.Now().Add(drainLimit)
			for time.Now().Before(deadline) {
				select {
				case j := <-s.jobs:
					s.transcode(j)
				default:
					return
				}
			}
			s.log.Warn("transcode queue not drained in time: jobs dropped", "left", len(s.jobs))
			return
		case <-changed:
		case j := <-s.jobs:
			s.transcode(j)
		}
	}
}

// encodeTime is the encoder's answer time for a video: Config.EncodeTime
// times 0.2 to 1.8 (its length).
func (s *Service) encodeTime(video int) time.Duration {
	return s.cfg.EncodeTime * time.Duration(video*7%9+1) / 5
}

// transcode runs one job: a consumer span starting a new trace linked to
// the producer span, the encoder's answer, the rendition written to the
// store.
func (s *Service) transcode(j job) {
	defer s.pending.Add(-1)
	ctx, span := s.tracer.Start(context.Background(), "transcode process", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: j.link}), trace.WithAttributes(attribute.String("messaging.system", "inproc"),
			attribute.String("messaging.destination.name", "transcode"), attribute.String("messaging.operation.type", "process")))
	defer span.End()
	n := s.encoding.Add(1)
	for m := s.maxEnc.Load(); n > m && !s.maxEnc.CompareAndSwap(m, n); m = s.maxEnc.Load() {
	}
	time.Sleep(s.encodeTime(j.video)) // the encoder's answer
	s.encoding.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := invoke(ctx, s.conns[RoleStore], storeWrite, map[string]float64{"video": float64(j.video)}); err != nil {
		span.SetStatus(otelcodes.Error, "writing the rendition")
	}
}
