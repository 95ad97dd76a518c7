// Package sqlite opens a store.Store in a SQLite file through modernc.org/sqlite (pure Go,
// no cgo). It owns the connection settings and the translation of SQLite's error codes; the
// schema and queries are package sqlstore's.
//
// Writes go through a pool of one connection, so writers in this process queue in Go rather
// than spinning on SQLite's busy handler; other processes wait for the file's write lock up
// to the busy timeout. Reads use their own pool: in WAL mode they never wait for a writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlstore"
)

// Dialect is SQLite's sqlstore.Dialect. Write transactions must begin IMMEDIATE, which Open's
// connections do (_txlock=immediate), so no row locks are needed.
var Dialect = sqlstore.Dialect{
	Name: "sqlite",
	ID:   "INTEGER PRIMARY KEY AUTOINCREMENT",
	Blob: "BLOB",
	TagsWithin: "NOT EXISTS (SELECT 1 FROM json_each(jobs.tags) AS t WHERE t.value NOT IN " +
		"(SELECT value FROM json_each(?)))",
	Vacuum:    []string{"PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA optimize"},
	Translate: translate,
}

// translate maps SQLite's extended result codes to store sentinels. A database that stays
// locked beyond the busy timeout, an I/O error, a full disk or a file that cannot be opened
// is store.ErrUnavailable.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return store.ErrNotFound
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return store.ErrUnavailable
	}
	return nil
}

// Open opens (creating it if need be) the SQLite database at path and migrates its schema.
// The file is in WAL mode with synchronous=NORMAL, foreign keys on, and a busy timeout of
// 10 s; several processes may open it at once.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_journal_mode", "WAL")
	write, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	// Open the writer first: its first connection makes the file and switches it to WAL
	// before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	q.Set("_query_only", "1")
	read, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	s, err := sqlstore.New(ctx, read, write, Dialect)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}
