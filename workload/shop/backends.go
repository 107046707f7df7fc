package shop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// getProduct serves catalog's GetProduct: the cache, else the store
// (inventory GET /items); with Config.CatalogStock, then the stock
// (inventory GET /stock). Under catalogpanic every third product panics
// before the cache; the handler's own recovery answers "not found" with
// an OK status. Under catalogconvoy every third call renders the product
// page while holding the cache mutex; under catalogpool the calls to
// inventory share Config.SaturatedConns connections.
func (s *Service) getProduct(ctx context.Context, req *structpb.Struct) (out *structpb.Struct, err error) {
	product, err := productOf(req, s.cfg.Products)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil { // swallowed: the record "does not exist"
			out, err = &structpb.Struct{Fields: map[string]*structpb.Value{"found": structpb.NewBoolValue(false)}}, nil
		}
	}()
	bug := s.Bug()
	if bug == BugCatalogPanic && product%3 == 0 {
		var decoded map[int]cached
		decoded[product] = cached{} // a write to a nil map: the exception
	}
	client := s.client
	if bug == BugCatalogPool {
		client = s.pooled
	}
	inventory := strings.TrimRight(s.cfg.InventoryURL, "/")
	var c cached
	hit := false
	if bug != BugNoCache {
		s.cacheMu.Lock()
		if bug == BugCatalogConvoy && s.renders.Add(1)%3 == 0 {
			burn(s.cfg.RenderRounds, product) // the page render, under the cache mutex
		}
		c, hit = s.cache[product]
		s.cacheMu.Unlock()
		hit = hit && time.Now().Before(c.expires)
	}
	if !hit {
		status, body, err := s.callWith(ctx, client, http.MethodGet, fmt.Sprintf("%s/items?product=%d", inventory, product))
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("reading the store: status %d, %v", status, err)
		}
		name, stock, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
		n, _ := strconv.ParseInt(stock, 10, 64)
		c = cached{name: name, stock: n, expires: time.Now().Add(s.cfg.CacheTTL)}
		if bug != BugNoCache {
			s.cacheMu.Lock()
			s.cache[product] = c
			s.cacheMu.Unlock()
		}
	}
	if s.cfg.CatalogStock {
		status, body, err := s.callWith(ctx, client, http.MethodGet, fmt.Sprintf("%s/stock?product=%d", inventory, product))
		if err != nil || status != http.StatusOK {
			return nil, grpcstatus.Errorf(codes.Unavailable, "reading the stock: status %d", status)
		}
		if c.stock, err = strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64); err != nil {
			return nil, grpcstatus.Error(codes.Unavailable, "reading the stock: not a number")
		}
	}
	return productAnswer(c), nil
}

func productAnswer(c cached) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{"found": structpb.NewBoolValue(true),
		"name": structpb.NewStringValue(c.name), "stock": structpb.NewNumberValue(float64(c.stock))}}
}

// quote serves pricing's Quote: CPU work (more under slowquote); under
// quotepanic every third product (another third than catalogpanic's)
// panics, which the recovery interceptor turns into codes.Internal.
func (s *Service) quote(_ context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	product, err := productOf(req, s.cfg.Products)
	if err != nil {
		return nil, err
	}
	rounds := s.cfg.QuoteRounds
	switch s.Bug() {
	case BugSlowQuote:
		rounds *= s.cfg.SlowQuoteFactor
	case BugQuotePanic:
		if product%3 == 1 {
			var rules map[int]int
			rules[product]++ // a write to a nil map: the exception
		}
	}
	sum := burn(rounds, product)
	return &structpb.Struct{Fields: map[string]*structpb.Value{"cents": structpb.NewNumberValue(float64(100 + int(sum[0])))}}, nil
}

// getStock serves inventory's GET /stock?product=N: the warehouse's
// answer (Config.StockDelay), then the count. Under stockpanic every third
// read panics (the recovery middleware answers 500).
func (s *Service) getStock(w http.ResponseWriter, r *http.Request) {
	product, err := intParam(r, "product", s.cfg.Products)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.Bug() == BugStockPanic && s.stockReads.Add(1)%3 == 0 {
		var reserved map[int]int64
		reserved[product]++ // a write to a nil map: the exception
	}
	burn(s.cfg.StockRounds, product)
	if s.cfg.StockDelay > 0 {
		time.Sleep(s.cfg.StockDelay) // the warehouse system's answer
	}
	if s.Bug() == BugPoolSat { // the audit record of the read, synced under the audit mutex
		s.auditMu.Lock()
		err := s.store.write(int64(product), s.cfg.RecordBytes/32)
		s.auditMu.Unlock()
		if err != nil {
			http.Error(w, "auditing the read: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	s.storeMu.Lock()
	n := s.stock[product]
	s.storeMu.Unlock()
	fmt.Fprintln(w, n)
}

// getItem serves inventory's GET /items?product=N: the product record,
// read under the store mutex (held Config.ItemHold: the store's page read).
func (s *Service) getItem(w http.ResponseWriter, r *http.Request) {
	product, err := intParam(r, "product", s.cfg.Products)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	burn(s.cfg.StockRounds, product)
	s.storeMu.Lock()
	time.Sleep(s.cfg.ItemHold)
	n := s.stock[product]
	s.storeMu.Unlock()
	fmt.Fprintf(w, "item-%d %d\n", product, n)
}

// reserve serves inventory's POST /reserve?product=N: one unit reserved
// and its record written; under reservesync the record is journaled
// durably first, outside the mutex; under reservefail every third call
// fails fast with 503.
func (s *Service) reserve(w http.ResponseWriter, r *http.Request) {
	product, err := intParam(r, "product", s.cfg.Products)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	bug := s.Bug()
	if bug == BugReserveFail && s.reserves.Add(1)%3 == 0 {
		http.Error(w, "journal busy, try again", http.StatusServiceUnavailable)
		return
	}
	burn(s.cfg.StockRounds, product)
	sync := 0
	if bug == BugReserveSync {
		sync = s.cfg.RecordBytes / 2
	}
	if err := s.store.write(int64(product), sync); err != nil {
		http.Error(w, "journaling the reservation: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.storeMu.Lock()
	s.stock[product]--
	n := s.stock[product]
	s.storeMu.Unlock()
	fmt.Fprintln(w, n)
}

// charge serves payments' POST /charge: a pool slot, then the card
// network. Under retrystorm two of every three calls fail fast with 503;
// under poolsat the pool has Config.SaturatedWorkers slots; under
// paymentserror charges of every fourth product fail (500, error status);
// under payfsync each charge is journaled durably first.
func (s *Service) charge(w http.ResponseWriter, r *http.Request) {
	bug := s.Bug()
	if bug == BugRetryStorm && s.charges.Add(1)%3 != 0 {
		http.Error(w, "card token expired, try again", http.StatusServiceUnavailable)
		return
	}
	ctx := r.Context()
	product, err := intParam(r, "product", s.cfg.Products)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if bug == BugPaymentsError {
		if err := currencyRule(product); err != nil {
			span := trace.SpanFromContext(ctx)
			span.RecordError(err)
			span.SetStatus(otelcodes.Error, "charge failed")
			http.Error(w, "charging: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if bug == BugPayFsync {
		if err := s.ledger.write(int64(product), s.cfg.RecordBytes/8); err != nil {
			http.Error(w, "journaling the charge: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	pool := s.pool
	if bug == BugPoolSat {
		pool = s.saturated
	}
	_, acq := s.tracer.Start(ctx, "payments.pool.acquire")
	select {
	case pool <- struct{}{}:
		acq.End()
	case <-ctx.Done():
		acq.End()
		http.Error(w, "waiting for a payment worker: "+ctx.Err().Error(), http.StatusServiceUnavailable)
		return
	}
	defer func() { <-pool }()
	_, card := s.tracer.Start(ctx, "payments.card.authorize", trace.WithSpanKind(trace.SpanKindClient))
	time.Sleep(s.cfg.CardDelay)
	card.End()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintln(w, "charged")
}

// placeOrder serves orders' POST /orders: the order appended to the log
// under the mutex, then a fulfilment job queued
// (producer span). Under dropfulfil the enqueue path returns an error
// the handler swallows: 201 all the same, nothing queued.
func (s *Service) placeOrder(w http.ResponseWriter, r *http.Request) {
	product, err := intParam(r, "product", s.cfg.Products)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	bug := s.Bug()
	s.ordersMu.Lock()
	err = s.orderLog.write(int64(product), 0)
	s.ordersMu.Unlock()
	if err != nil {
		http.Error(w, "writing the order: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err := s.enqueue(r.Context(), product, bug); err != nil {
		s.log.Debug("order not queued for fulfilment", "reason", err) // the bug: logged, swallowed
	}
	w.WriteHeader(http.StatusCreated)
	if bug == BugFlagFlip {
		fmt.Fprintln(w, "order placed.") // the receipt's new wording: no other effect
		return
	}
	fmt.Fprintln(w, "order placed")
}

// enqueue queues a fulfilment job under a producer span.
func (s *Service) enqueue(ctx context.Context, product int, bug Bug) error {
	if bug == BugDropFulfil {
		return fmt.Errorf("shipping address version %d unsupported", 2) // the error return
	}
	ctx, span := s.tracer.Start(ctx, "orders.enqueue", trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	select {
	case s.jobs <- job{product: product, link: span.SpanContext()}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drainLimit bounds how long Close lets the workers drain the queue.
const drainLimit = 3 * time.Second

// fulfilLoop is one background worker: a consumer span per job (a child
// of its producer span, linked to it) that reserves the item; under
// workerconvoy the worker holds the manifest mutex across the reservation
// and a durable manifest rewrite.
func (s *Service) fulfilLoop() {
	for {
		select {
		case <-s.stop:
			deadline := time.Now().Add(drainLimit)
			for time.Now().Before(deadline) {
				select {
				case j := <-s.jobs:
					s.fulfil(j)
				default:
					return
				}
			}
			s.log.Warn("fulfilment queue not drained in time: jobs dropped", "left", len(s.jobs))
			return
		case j := <-s.jobs:
			s.fulfil(j)
		}
	}
}

// currencyRule is paymentserror's defect: the currency table lost the
// rule of every fourth product.
func currencyRule(product int) error {
	if product%4 == 3 {
		return errors.New("no currency rule for the product")
	}
	return nil
}

func (s *Service) fulfil(j job) {
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), j.link)
	ctx, span := s.tracer.Start(ctx, "orders.fulfil", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: j.link}))
	defer span.End()
	held := s.Bug() == BugWorkerConvoy
	if held {
		s.manifestMu.Lock()
		defer s.manifestMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	status, err := s.reserveWithRetry(ctx, j.product)
	if err != nil || status/100 != 2 {
		s.log.Debug("reservation failed", "status", status, "err", err)
		return
	}
	if held {
		if err := s.manifest.write(int64(j.product), s.cfg.RecordBytes/16); err != nil {
			s.log.Debug("manifest not written", "err", err)
		}
	}
}

// reserveWithRetry reserves the product with inventory, trying again
// (after 1 ms) on a 503, up to Config.RetryAttempts times; it returns the
// last answer.
func (s *Service) reserveWithRetry(ctx context.Context, product int) (int, error) {
	u := fmt.Sprintf("%s/reserve?product=%d", strings.TrimRight(s.cfg.InventoryURL, "/"), product)
	for attempt := 1; ; attempt++ {
		status, _, err := s.call(ctx, http.MethodPost, u)
		if err != nil || status != http.StatusServiceUnavailable || attempt == s.cfg.RetryAttempts {
			return status, err
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, ctx.Err()
		case <-t.C:
		}
	}
}
