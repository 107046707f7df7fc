package analyze

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/debugai/debugai/evidence"
)

// LoopConfig configures the continuous analysis a server runs.
type LoopConfig struct {
	// Every is the time between two passes; 0: none (alerts only).
	Every time.Duration
	// Window is the recent window each pass analyzes, ending at the latest
	// stored evidence; the window of equal length before it is the
	// baseline.
	Window time.Duration
	// MaxItems bounds the spans (and kernel events, lock edges) a pass
	// loads; a larger window is skipped with a warning.
	MaxItems int
}

// DefaultLoopConfig: a pass every 30 s over the last minute, against the
// minute before it.
func DefaultLoopConfig() LoopConfig {
	return LoopConfig{Every: 30 * time.Second, Window: time.Minute, MaxItems: 2_000_000}
}

// ErrLoopConfig reports an invalid LoopConfig.
var ErrLoopConfig = errors.New("invalid analysis loop config")

// Validate reports the first invalid field.
func (c LoopConfig) Validate() error {
	switch {
	case c.Every != 0 && c.Every < 100*time.Millisecond:
		return fmt.Errorf("%w: the interval %s is below 100ms (0: no periodic passes)", ErrLoopConfig, c.Every)
	case c.Window < time.Second:
		return fmt.Errorf("%w: the window %s is below 1s", ErrLoopConfig, c.Window)
	case c.MaxItems < 1:
		return fmt.Errorf("%w: MaxItems %d must be at least 1", ErrLoopConfig, c.MaxItems)
	}
	return nil
}

// Store is what the loop reads and writes: a store a server owns.
type Store interface {
	evidence.Reader
	evidence.FindingWriter
}

// Pass is what one pass of the loop did.
type Pass struct {
	// Skipped says why nothing ran (no evidence, none new since the last
	// pass); empty when the pass ran.
	Skipped string
	// Input is what was analyzed; Findings what was found and stored.
	Input    *Input
	Findings []evidence.Finding
}

// Recent runs one pass: the detectors over the last window of the stored
// evidence against the window before it, the findings stored. lastEndNS
// is the latest evidence time the previous pass saw (0: none): a store
// that has not grown since is skipped.
func Recent(ctx context.Context, st Store, cfg LoopConfig, lastEndNS int64) (Pass, int64, error) {
	stats, err := st.Stats(ctx)
	if err != nil {
		return Pass{}, lastEndNS, fmt.Errorf("reading stats: %w", err)
	}
	end := stats.MaxEndNS
	if stats.Spans == 0 {
		end = stats.EvidenceMaxNS
	}
	switch {
	case end == 0:
		return Pass{Skipped: "the store holds no evidence yet"}, lastEndNS, nil
	case end == lastEndNS:
		return Pass{Skipped: "no new evidence since the last pass"}, lastEndNS, nil
	}
	plan, err := ResolvePlan(stats, cfg.Window.String(), "", "", "")
	if err != nil {
		return Pass{}, lastEndNS, err
	}
	in, err := Load(ctx, st, stats, plan, cfg.MaxItems, "the served store")
	if err != nil {
		return Pass{}, lastEndNS, err
	}
	fs, _, err := Detect(in)
	if err != nil {
		return Pass{}, lastEndNS, err
	}
	if err := st.WriteFindings(ctx, fs); err != nil {
		return Pass{}, lastEndNS, fmt.Errorf("storing findings: %w", err)
	}
	return Pass{Input: in, Findings: fs}, end, nil
}

// Loop runs Recent every cfg.Every (never when it is 0) until ctx ends,
// and gives each pass that ran to the tracker (nil: no incidents); between
// passes it investigates the alerts queued on alerts (nil: none; they need
// a tracker), one at a time, so that no two analyses write findings at
// once. A failed pass or alert is logged and the loop goes on; only ctx's
// end stops it.
func Loop(ctx context.Context, st Store, cfg LoopConfig, tracker *Tracker, alerts *AlertQueue, logger *slog.Logger) {
	var tick <-chan time.Time
	if cfg.Every > 0 {
		t := time.NewTicker(cfg.Every)
		defer t.Stop()
		tick = t.C
	}
	var alertC <-chan AlertRequest
	if alerts != nil && tracker != nil {
		alertC = alerts.C()
	}
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-alertC:
			start := time.Now()
			inc, err := tracker.Alert(ctx, cfg, req)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				logger.Warn("alert investigation failed", "alert", req.Key, "err", err)
			default:
				logger.Info("alert investigated", "alert", req.Key, "service", inc.Service, "status", inc.Status,
					"report", inc.ReportID, "took", time.Since(start).Round(time.Millisecond))
			}
			continue
		case <-tick:
		}
		start := time.Now()
		pass, end, err := Recent(ctx, st, cfg, last)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			logger.Warn("analysis pass failed", "err", err)
		case pass.Skipped != "":
			logger.Debug("analysis pass skipped", "why", pass.Skipped)
		default:
			last = end
			logger.Info("analysis pass", "findings", len(pass.Findings), "compared", pass.Input.Describe(),
				"took", time.Since(start).Round(time.Millisecond))
			if tracker != nil {
				if _, err := tracker.Observe(ctx, pass); err != nil && ctx.Err() == nil {
					logger.Warn("incident tracking failed", "err", err)
				}
			}
		}
	}
}
