package shop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// errNotFound is what the gateway's product lookup returns when catalog
// says the product does not exist.
var errNotFound = errors.New("unknown product")

// checkout serves the gateway's POST /checkout: the fan-out (catalog,
// pricing, inventory stock in parallel; with Config.CatalogStock the
// stock comes from catalog), the charge (retried), the order.
// The product is the next of a fixed cycle, so every run sees the same
// mix; giftwrap=1 takes the flagflip path.
func (s *Service) checkout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	product := int(s.next.Add(1)-1) % s.cfg.Products
	var (
		wg         sync.WaitGroup
		prodErr    error
		quote, stk int64
		quoteErr   error
		stockErr   error
	)
	wg.Go(func() {
		var catalogStock int64
		_, catalogStock, prodErr = s.lookupProduct(ctx, product)
		if s.cfg.CatalogStock {
			stk = catalogStock
		}
	})
	wg.Go(func() { quote, quoteErr = s.quoteOf(ctx, product) })
	if !s.cfg.CatalogStock {
		wg.Go(func() { stk, stockErr = s.stockOf(ctx, product) })
	}
	wg.Wait()
	switch {
	case errors.Is(prodErr, errNotFound):
		http.Error(w, "unknown product", http.StatusNotFound)
		return
	case prodErr != nil:
		http.Error(w, "asking the catalog: "+prodErr.Error(), http.StatusBadGateway)
		return
	case quoteErr != nil:
		http.Error(w, "asking pricing: "+quoteErr.Error(), http.StatusBadGateway)
		return
	case stockErr != nil:
		http.Error(w, "asking inventory: "+stockErr.Error(), http.StatusBadGateway)
		return
	case stk <= 0:
		http.Error(w, "out of stock", http.StatusConflict)
		return
	}
	cents := quote
	if r.URL.Query().Get("giftwrap") == "1" && s.Bug() == BugFlagFlip {
		cents += 250 // the gift-wrap option, behind the flag
	}
	if err := s.chargeWithRetry(ctx, product, cents); err != nil {
		http.Error(w, "charging: "+err.Error(), http.StatusBadGateway)
		return
	}
	status, body, err := s.call(ctx, http.MethodPost, fmt.Sprintf("%s/orders?product=%d&cents=%d", strings.TrimRight(s.cfg.OrdersURL, "/"), product, cents))
	if err != nil || status/100 != 2 {
		http.Error(w, fmt.Sprintf("placing the order: status %d, %v", status, err), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// product serves the gateway's GET /product: catalog and pricing in
// parallel.
func (s *Service) product(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	product := int(s.next.Add(1)-1) % s.cfg.Products
	var (
		wg       sync.WaitGroup
		name     string
		prodErr  error
		quote    int64
		quoteErr error
	)
	wg.Go(func() { name, _, prodErr = s.lookupProduct(ctx, product) })
	wg.Go(func() { quote, quoteErr = s.quoteOf(ctx, product) })
	wg.Wait()
	switch {
	case errors.Is(prodErr, errNotFound):
		http.Error(w, "unknown product", http.StatusNotFound)
		return
	case prodErr != nil:
		http.Error(w, "asking the catalog: "+prodErr.Error(), http.StatusBadGateway)
		return
	case quoteErr != nil:
		http.Error(w, "asking pricing: "+quoteErr.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "%s %d\n", name, quote)
}

// lookupProduct returns the product's name and stock from catalog.
func (s *Service) lookupProduct(ctx context.Context, product int) (string, int64, error) {
	out, err := invoke(ctx, s.catalog, GetProductMethod, product)
	if err != nil {
		return "", 0, err
	}
	if !out.GetFields()["found"].GetBoolValue() {
		return "", 0, errNotFound
	}
	return out.GetFields()["name"].GetStringValue(), int64(out.GetFields()["stock"].GetNumberValue()), nil
}

func (s *Service) quoteOf(ctx context.Context, product int) (int64, error) {
	out, err := invoke(ctx, s.pricing, QuoteMethod, product)
	if err != nil {
		return 0, err
	}
	v, ok := out.GetFields()["cents"].GetKind().(*structpb.Value_NumberValue)
	if !ok {
		return 0, errors.New("the quote has no cents")
	}
	return int64(v.NumberValue), nil
}

func (s *Service) stockOf(ctx context.Context, product int) (int64, error) {
	status, body, err := s.call(ctx, http.MethodGet, fmt.Sprintf("%s/stock?product=%d", strings.TrimRight(s.cfg.InventoryURL, "/"), product))
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("status %d", status)
	}
	return strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
}

// chargeWithRetry charges payments, trying again (after 1 ms) on a 503 or
// a failed call, up to Config.RetryAttempts times.
func (s *Service) chargeWithRetry(ctx context.Context, product int, cents int64) error {
	u := fmt.Sprintf("%s/charge?product=%d&cents=%d", strings.TrimRight(s.cfg.PaymentsURL, "/"), product, cents)
	var last error
	for attempt := range s.cfg.RetryAttempts {
		if attempt > 0 {
			t := time.NewTimer(time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		status, _, err := s.call(ctx, http.MethodPost, u)
		switch {
		case err == nil && status/100 == 2:
			return nil
		case err == nil && status != http.StatusServiceUnavailable:
			return fmt.Errorf("payments answered %d", status)
		case err != nil:
			last = err
		default:
			last = fmt.Errorf("payments answered %d", status)
		}
	}
	return fmt.Errorf("%d attempts: %w", s.cfg.RetryAttempts, last)
}
