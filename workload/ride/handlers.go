package ride

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// cities are the cities the api serves (POST /v1/rides/{city}).
var cities = []string{"north", "south", "east", "west"}

// geoCells is the number of cells of the geo index.
const geoCells = 64

// drivers is the number of drivers that ping.
const drivers = 500

// statusWriter remembers a response's status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// handTraced is the api's hand-written server instrumentation: a span
// named by the route template, the status code only as an attribute
// (never a span status), as some real exports do.
func (s *Service) handTraced(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", cmpOr(sw.code, http.StatusOK)))
	})
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// requestRide serves the api's POST /v1/rides/{city}: the next rider's
// request handed to dispatch.
func (s *Service) requestRide(w http.ResponseWriter, r *http.Request) {
	city := slices.Index(cities, r.PathValue("city"))
	if city < 0 {
		http.Error(w, "unknown city", http.StatusNotFound)
		return
	}
	rider := s.nextRider.Add(1) - 1
	var out struct {
		Trip  int `json:"trip"`
		Cents int `json:"cents"`
	}
	if err := postJSON(r.Context(), s.http, http.MethodPost, joinURL(s.cfg.Addrs[RoleDispatch], "/dispatch"),
		map[string]int{"rider": int(rider), "city": city}, &out); err != nil {
		http.Error(w, "dispatching", http.StatusBadGateway)
		return
	}
	s.lastTrip.Store(int64(out.Trip))
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "{\"trip\":%d,\"cents\":%d}\n", out.Trip, out.Cents)
}

// rideStatus serves the api's GET /v1/rides/{id}: "recent" is one of the
// last trips the api dispatched.
func (s *Service) rideStatus(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if r.PathValue("id") == "recent" {
		id, err = int(max(0, s.lastTrip.Load()-s.nextDriver.Load()%4)), nil
	}
	if err != nil || id < 0 {
		http.Error(w, "id: want a trip number or recent", http.StatusBadRequest)
		return
	}
	var out struct {
		Found bool `json:"found"`
	}
	if err := postJSON(r.Context(), s.http, http.MethodGet, joinURL(s.cfg.Addrs[RoleDispatch], "/trips/"+strconv.Itoa(id)), nil, &out); err != nil {
		http.Error(w, "reading the trip", http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "{\"found\":%t}\n", out.Found)
}

// ping serves the api's POST /v1/drivers/{id}/ping: "any" is the next
// driver; its position goes to a geo replica (round-robin).
func (s *Service) ping(w http.ResponseWriter, r *http.Request) {
	driver, err := strconv.Atoi(r.PathValue("id"))
	if r.PathValue("id") == "any" {
		driver, err = int((s.nextDriver.Add(1)-1)%drivers), nil
	}
	if err != nil || driver < 0 || driver >= drivers {
		http.Error(w, "id: want a driver number or any", http.StatusBadRequest)
		return
	}
	cell := (driver*13 + int(s.nextDriver.Load()/drivers)) % geoCells
	if _, err := invoke(r.Context(), s.geo.pick(), updateMethod, map[string]any{"driver": float64(driver), "cell": float64(cell)}); err != nil {
		http.Error(w, "updating the position", http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// dispatch serves dispatch's POST /dispatch: the fare from pricing, then
// the match. Under farestale every third rider's fare comes from a stale
// cache entry and pricing is not asked.
func (s *Service) dispatch(w http.ResponseWriter, r *http.Request) {
	var in struct{ Rider, City int }
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || in.Rider < 0 || in.City < 0 || in.City >= len(cities) {
		http.Error(w, "body: want {\"rider\", \"city\"}", http.StatusBadRequest)
		return
	}
	req := map[string]any{"rider": float64(in.Rider), "city": float64(in.City)}
	cents := 0
	if s.Bug() == BugFareStale && in.Rider%3 == 0 {
		cents = 700 // the defect: a cached fare that never expires
	} else {
		q, err := invoke(r.Context(), s.grpcs[RolePricing], quoteMethod, req)
		if err != nil {
			http.Error(w, "quoting", http.StatusBadGateway)
			return
		}
		cents = num(q, "cents")
	}
	m, err := invoke(r.Context(), s.grpcs[RoleMatcher], matchMethod, req)
	if err != nil {
		http.Error(w, "matching", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"trip": num(m, "trip"), "cents": cents})
}

// trip serves dispatch's GET /trips/{id}: the trip read from tripdb.
func (s *Service) trip(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 {
		http.Error(w, "id: want a trip number", http.StatusBadRequest)
		return
	}
	n, err := s.exec(r.Context(), selectTrip, id, 1)
	if err != nil {
		http.Error(w, "reading the trip", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]bool{"found": n > 0})
}

// quote serves pricing's Quote: the city's surge and CPU work.
func (s *Service) quote(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	rider, err := intField(req, "rider", 1<<40)
	if err != nil {
		return nil, err
	}
	city, err := intField(req, "city", len(cities))
	if err != nil {
		return nil, err
	}
	sum := burn(s.cfg.QuoteRounds, rider*8+city)
	return answer(map[string]any{"cents": float64(500 + int(sum[0])*(city+1))}), nil
}

// match serves matcher's Match: Nearby for Config.Cells cells in
// parallel over the geo replicas, the scoring (span match.score), the
// trip stored in tripdb and published to notifier. Under matchpanic the
// scoring throws for every fourth rider.
func (s *Service) match(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	rider, err := intField(req, "rider", 1<<40)
	if err != nil {
		return nil, err
	}
	city, err := intField(req, "city", len(cities))
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	found := make([]int, s.cfg.Cells)
	errs := make([]error, s.cfg.Cells)
	for i := range s.cfg.Cells {
		wg.Go(func() {
			cell := (city*16 + rider + i*5) % geoCells
			out, err := invoke(ctx, s.geo.pick(), nearbyMethod, map[string]any{"cell": float64(cell)})
			found[i], errs[i] = num(out, "drivers"), err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, status.Error(codes.Unavailable, "asking geo")
	}
	driver := s.score(ctx, rider, found)
	trip := int(s.nextTrip.Add(1) - 1)
	if _, err := s.exec(ctx, insertTrip, trip, 1); err != nil {
		return nil, status.Error(codes.Unavailable, "storing the trip")
	}
	if err := s.publishTrip(ctx, trip); err != nil {
		return nil, status.Error(codes.Unavailable, "publishing the trip")
	}
	return answer(map[string]any{"trip": float64(trip), "driver": float64(driver)}), nil
}

// score ranks the candidates (span match.score); under matchpanic it
// throws for every fourth rider.
func (s *Service) score(ctx context.Context, rider int, found []int) int {
	_, span := s.tracer.Start(ctx, "match.score")
	defer span.End()
	if s.Bug() == BugMatchPanic && rider%4 == 0 {
		var vehicles map[int]int
		vehicles[rider]++ // a write to a nil map: the exception
	}
	sum := burn(s.cfg.ScoreRounds, rider)
	best := int(sum[0]) % drivers
	for _, n := range found {
		best = (best + n) % drivers
	}
	return best
}

// publishTrip publishes the trip to notifier inside a producer span
// ("trips publish"): POST /publish, retried at once on 503 up to
// Config.PublishAttempts times.
func (s *Service) publishTrip(ctx context.Context, trip int) error {
	ctx, span := s.tracer.Start(ctx, "trips publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.system", "ridebus"), attribute.String("messaging.destination.name", "trips"),
		attribute.String("messaging.operation.type", "send")))
	defer span.End()
	msg := message{Trip: trip, Headers: map[string]string{}}
	propagation.TraceContext{}.Inject(ctx, mapCarrier(msg.Headers))
	var err error
	for attempt := 1; attempt <= s.cfg.PublishAttempts; attempt++ {
		err = postJSON(ctx, s.http, http.MethodPost, joinURL(s.cfg.Addrs[RoleNotifier], "/publish"), msg, nil)
		var se *httpStatusError
		if err == nil || !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
			break
		}
	}
	if err != nil {
		span.SetStatus(otelcodes.Error, "publishing")
	}
	return err
}

// nearby serves geo's Nearby: the cell's drivers read under the index
// mutex, CPU work outside it. Under geoconvoy every fourth lookup
// rebuilds the cell while it holds the mutex.
func (s *Service) nearby(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	cell, err := intField(req, "cell", geoCells)
	if err != nil {
		return nil, err
	}
	n := s.nearbys.Add(1)
	s.geoMu.Lock()
	count := s.cells[cell]
	if s.Bug() == BugGeoConvoy && n%4 == 0 {
		if f := s.onHold.Load(); f != nil {
			(*f)()
		}
		sum := burn(s.cfg.RebuildRounds, cell) // the defect: the rebuild under the index mutex
		s.cells[cell] = count + int(sum[0]%2)
	}
	s.geoMu.Unlock()
	sum := burn(s.cfg.NearbyRounds, cell*1000+count)
	return answer(map[string]any{"drivers": float64(count + int(sum[0]%3))}), nil
}

// update serves geo's Update: a driver moves into a cell.
func (s *Service) update(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	if _, err := intField(req, "driver", drivers); err != nil {
		return nil, err
	}
	cell, err := intField(req, "cell", geoCells)
	if err != nil {
		return nil, err
	}
	s.geoMu.Lock()
	s.cells[cell]++
	s.geoMu.Unlock()
	return answer(nil), nil
}

// publish serves notifier's POST /publish: the message queued for the
// pushers and the receipts batch. Under notifyretry two of every five
// publishes answer 503.
func (s *Service) publish(w http.ResponseWriter, r *http.Request) {
	var msg message
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&msg); err != nil || msg.Trip < 0 {
		http.Error(w, "body: want a message", http.StatusBadRequest)
		return
	}
	if n := s.publishes.Add(1); s.Bug() == BugNotifyRetry && (n%5 == 1 || n%5 == 3) {
		http.Error(w, "the partition is moving", http.StatusServiceUnavailable)
		return
	}
	s.pending.Add(1)
	select {
	case s.queue <- msg:
	default:
		s.pending.Add(-1)
		http.Error(w, "the queue is full", http.StatusTooManyRequests)
		return
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), mapCarrier(msg.Headers)))
	s.batchMu.Lock()
	s.batch = append(s.batch, sc)
	s.batchMu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// drainLimit bounds how long Close lets the pushers drain the queue.
const drainLimit = 5 * time.Second

// pushLoop is push worker id: under pushpool only the first
// Config.SaturatedPushers take messages.
func (s *Service) pushLoop(id int) {
	for {
		changed := *s.bugChanged.Load()
		if s.Bug() == BugPushPool && id >= s.cfg.SaturatedPushers {
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
				case m := <-s.queue:
					s.push(m)
				default:
					return
				}
			}
			s.log.Warn("push queue not drained in time: messages dropped", "left", len(s.queue))
			return
		case <-changed:
		case m := <-s.queue:
			s.push(m)
		}
	}
}

// pushTime is the push gateway's answer for a trip: Config.PushTime
// times 0.25 to 1.75.
func (s *Service) pushTime(trip int) time.Duration {
	return s.cfg.PushTime * time.Duration(trip*5%7+1) / 4
}

// push delivers one message: a consumer span in the producer's trace (its
// child), the push gateway's answer.
func (s *Service) push(m message) {
	defer s.pending.Add(-1)
	ctx := propagation.TraceContext{}.Extract(context.Background(), mapCarrier(m.Headers))
	_, span := s.tracer.Start(ctx, "trips process", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "ridebus"), attribute.String("messaging.destination.name", "trips"),
		attribute.String("messaging.operation.type", "process")))
	defer span.End()
	n := s.pushing.Add(1)
	for m := s.maxPushes.Load(); n > m && !s.maxPushes.CompareAndSwap(m, n); m = s.maxPushes.Load() {
	}
	time.Sleep(s.pushTime(m.Trip)) // the push gateway's answer
	s.pushing.Add(-1)
}

// batched is the number of messages waiting for the receipts batch.
func (s *Service) batched() int {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	return len(s.batch)
}

// batchLoop flushes the receipts every Config.BatchEvery until stop (and
// once more then).
func (s *Service) batchLoop() {
	t := time.NewTicker(s.cfg.BatchEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flushReceipts()
			return
		case <-t.C:
			s.flushReceipts()
		}
	}
}

// flushReceipts writes the receipts of the messages queued since the last
// flush in one statement: one span ("receipts flush") linked to each
// message's producer span.
func (s *Service) flushReceipts() {
	s.batchMu.Lock()
	batch := s.batch
	s.batch = nil
	s.batchMu.Unlock()
	if len(batch) == 0 {
		return
	}
	links := make([]trace.Link, 0, len(batch))
	for _, sc := range batch {
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := s.tracer.Start(context.Background(), "receipts flush", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("messaging.system", "ridebus"), attribute.String("messaging.destination.name", "trips"),
			attribute.String("messaging.operation.type", "process"), attribute.Int("messaging.batch.message_count", len(batch))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.exec(ctx, insertReceipts, len(batch), len(batch)); err != nil {
		span.SetStatus(otelcodes.Error, "writing the receipts")
	}
}
