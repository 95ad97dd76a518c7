package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// maxLogRow bounds the bytes of one log_chunks row: a chunk is stored in rows of at most
// this, so that reading any part of a log costs at most about that much more than the part.
const maxLogRow = 64 << 10

// AppendLog implements store.Logs. The job's row keeps the log's size and is locked while
// a chunk is added, so concurrent appends of the same bytes store them once.
func (s *Store) AppendLog(ctx context.Context, jobID, offset int64, data []byte) (int64, error) {
	var size int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`SELECT log_size FROM jobs WHERE id = ?`+s.d.ForUpdate), jobID).Scan(&size); err != nil {
			return s.err(err)
		}
		if offset > size {
			return store.ErrLogOffset
		}
		skip := size - offset
		if skip >= int64(len(data)) {
			return nil
		}
		for rest := data[skip:]; len(rest) > 0; {
			row := rest[:min(len(rest), maxLogRow)]
			if _, err := s.exec(ctx, tx, `INSERT INTO log_chunks (job_id, off, data) VALUES (?, ?, ?)`, jobID, size, row); err != nil {
				return err
			}
			size += int64(len(row))
			rest = rest[len(row):]
		}
		_, err := s.exec(ctx, tx, `UPDATE jobs SET log_size = ? WHERE id = ?`, size, jobID)
		return err
	})
	if err != nil {
		return size, fmt.Errorf("append log of job %d at %d: %w", jobID, offset, err)
	}
	return size, nil
}

// ReadLog implements store.Logs. ErrNotFound when the job does not exist.
func (s *Store) ReadLog(ctx context.Context, jobID, offset int64, limit int) ([]byte, int64, error) {
	var size int64
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT log_size FROM jobs WHERE id = ?`), jobID).Scan(&size); err != nil {
		return nil, 0, fmt.Errorf("read log of job %d: %w", jobID, s.err(err))
	}
	offset = max(offset, 0)
	end := size
	if limit > 0 {
		end = min(end, offset+int64(limit))
	}
	if offset >= end {
		return nil, size, nil
	}
	type chunk struct {
		off  int64
		data []byte
	}
	chunks, err := list(ctx, s, s.r, func(r scanner) (*chunk, error) {
		var c chunk
		return &c, r.Scan(&c.off, &c.data)
	}, `SELECT off, data FROM log_chunks WHERE job_id = ? AND off < ?
	AND off >= (SELECT COALESCE(MAX(off), 0) FROM log_chunks WHERE job_id = ? AND off <= ?) ORDER BY off`,
		jobID, end, jobID, offset)
	if err != nil {
		return nil, size, fmt.Errorf("read log of job %d: %w", jobID, err)
	}
	out := make([]byte, 0, end-offset)
	for _, c := range chunks {
		lo, hi := max(offset, c.off), min(end, c.off+int64(len(c.data)))
		if lo < hi {
			out = append(out, c.data[lo-c.off:hi-c.off]...)
		}
	}
	return out, size, nil
}

// DeleteLogs implements store.Logs; the jobs' logs are empty afterwards.
func (s *Store) DeleteLogs(ctx context.Context, before time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		t := nanos(before)
		if _, err := s.exec(ctx, tx, `DELETE FROM log_chunks WHERE job_id IN
	(SELECT id FROM jobs WHERE finished <> 0 AND finished < ? AND log_size <> 0)`, t); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `UPDATE jobs SET log_size = 0 WHERE finished <> 0 AND finished < ? AND log_size <> 0`, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete logs: %w", err)
	}
	return nil
}
