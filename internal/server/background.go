package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/slipway/slipway/internal/plan"
)

// runSchedules starts the pipelines of cron schedules that are due, every 15 s, until ctx
// ends. A schedule's next run is moved forward before its pipeline is made, so a crash
// between the two skips a run rather than running it twice.
func (s *Server) runSchedules(ctx context.Context) {
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		s.dueSchedules(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) dueSchedules(ctx context.Context) {
	now := s.now()
	all, err := s.store.Schedules(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("list schedules", "err", err)
		}
		return
	}
	for _, sc := range all {
		if !sc.Active || sc.NextRun.After(now) {
			continue
		}
		next, err := nextRun(sc.Cron, sc.Timezone, now)
		if err != nil || sc.NextRun.IsZero() {
			// It can never fire (a schedule stored before schedules were checked): it is
			// turned off, not run.
			sc.Active, sc.NextRun = false, time.Time{}
			if uerr := s.store.UpdateSchedule(ctx, sc); uerr != nil {
				s.log.Error("update schedule", "schedule_id", sc.ID, "err", uerr)
				continue
			}
			s.log.Warn("schedule turned off: it has no next run", "schedule_id", sc.ID, "cron", sc.Cron, "err", err)
			continue
		}
		sc.NextRun = next
		if err := s.store.UpdateSchedule(ctx, sc); err != nil {
			s.log.Error("update schedule", "schedule_id", sc.ID, "err", err)
			continue
		}
		p, err := s.store.Project(ctx, sc.ProjectID)
		if err != nil {
			continue
		}
		vars := map[string]string{}
		for k, v := range sc.Vars {
			vars[k] = v
		}
		pl, err := s.createPipeline(ctx, p, trigger{Source: plan.SourceSchedule, Ref: sc.Ref, Vars: vars})
		var none *errNoPipeline
		switch {
		case errors.As(err, &none):
			s.log.Info("schedule made no pipeline", "schedule_id", sc.ID, "reason", none.reason)
		case err != nil:
			s.log.Error("scheduled pipeline", "schedule_id", sc.ID, "err", err)
		default:
			s.log.Info("scheduled pipeline", "schedule_id", sc.ID, "pipeline_id", pl.ID)
		}
	}
}

// runRetention deletes expired artifacts hourly, pipelines (with their logs and artifacts)
// older than the retention period, caches unused for Limits.CacheAge and webhook deliveries
// past Limits.Deliveries and Limits.DeliveryAge, and ended sessions, then compacts the
// database.
func (s *Server) runRetention(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.Expire(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("retention", "err", err)
			}
		}
	}
}

// Expire applies the retention policy once.
func (s *Server) Expire(ctx context.Context) error {
	now := s.now()
	arts, err := s.store.ExpireArtifacts(ctx, now)
	if err != nil {
		return err
	}
	var paths []string
	for _, a := range arts {
		paths = append(paths, a.Path)
	}
	old, err := s.store.DeletePipelines(ctx, now.Add(-s.o.Retention))
	if err != nil {
		return err
	}
	paths = append(paths, old...)
	if _, err := s.store.PruneDeliveries(ctx, 0, s.o.Limits.Deliveries, now.Add(-s.o.Limits.DeliveryAge)); err != nil {
		return err
	}
	caches, err := s.expireCaches(ctx, now)
	if err != nil {
		return fmt.Errorf("expire caches: %w", err)
	}
	if _, err := s.store.PurgeSessions(ctx, now, now.Add(-s.o.Limits.SessionIdle)); err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(filepath.Join(s.o.Data, p)); err != nil && !os.IsNotExist(err) {
			s.log.Warn("remove artifact file", "path", p, "err", err)
		}
	}
	s.jobLogs.states.expire(now.Add(-s.o.Retention))
	if len(paths) > 0 || len(old) > 0 || caches > 0 {
		s.log.Info("retention", "artifacts_removed", len(paths), "caches_removed", caches)
	}
	return s.store.Vacuum(ctx)
}
