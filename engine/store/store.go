// Package store keeps an exercise's event log in SQLite: one file per
// exercise, WAL mode, append-only events, plus exercise metadata, the
// latest plant checkpoint and the timers of for: rules.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver: static builds, no cgo
)

//go:embed migrations/*.sql
var migrations embed.FS

// Event is one immutable record of the log.
type Event struct {
	Seq   int64           // assigned by Append
	Time  time.Time       // wall clock
	Clock time.Duration   // exercise clock
	Team  string          // "" for exercise-wide events
	Kind  string          // e.g. "inject.fired"
	Data  json.RawMessage // kind-specific JSON

	// Set by the engine as it commits the event, so a page of the log needs
	// no fold of what came before: the team's score after the event, and
	// who besides the instructor may see it.
	Score    int
	Public   bool // the public scoreboard shows it
	TeamSees bool // its team (every team, for an exercise-wide event) sees it
}

type eventJSON struct {
	Seq     int64           `json:"seq"`
	Time    time.Time       `json:"time"`
	ClockMS int64           `json:"clock_ms"`
	Team    string          `json:"team,omitempty"`
	Kind    string          `json:"kind"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// MarshalJSON writes the exercise clock in milliseconds.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{e.Seq, e.Time.UTC(), e.Clock.Milliseconds(), e.Team, e.Kind, e.Data})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{Seq: j.Seq, Time: j.Time, Clock: time.Duration(j.ClockMS) * time.Millisecond, Team: j.Team, Kind: j.Kind, Data: j.Data}
	return nil
}

// Store is an open event log.
type Store struct {
	db  *sql.DB // the writer: one connection, so appends keep their order
	rdb *sql.DB // readers, which WAL lets read beside the writer
}

// readers is how many reads may run at once. Reads never wait for the
// writer, nor it for them: a crowd of viewers paging the log can't hold up
// a commit.
const readers = 4

// Open opens or creates the log at path and brings its schema up to date.
func Open(path string) (*Store, error) {
	// _txlock=immediate takes the write lock at BEGIN, so concurrent writers
	// queue on busy_timeout instead of failing on upgrade.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	// One writer: SQLite serialises writes anyway; one connection keeps
	// appends in order without lock contention.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate event log %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readers)
	s.rdb = rdb
	return s, nil
}

// Close closes the log.
func (s *Store) Close() error { return errors.Join(s.rdb.Close(), s.db.Close()) }

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for i, name := range names {
		if i < version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Append writes events in one transaction and sets their Seq. When it
// returns nil they are durable against a crash of this process.
func (s *Store) Append(ctx context.Context, evs ...*Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO events (time, clock, team, kind, data, score, public, team_sees) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	defer stmt.Close()
	for _, e := range evs {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		res, err := stmt.ExecContext(ctx, e.Time.UnixNano(), int64(e.Clock), e.Team, e.Kind, string(data), e.Score, e.Public, e.TeamSees)
		if err != nil {
			return fmt.Errorf("append %s event: %w", e.Kind, err)
		}
		if e.Seq, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit events: %w", err)
	}
	return nil
}

// Filter narrows a read of the log.
type Filter struct {
	After int64    // only events with seq > After
	Team  string   // only this team's events and exercise-wide ones, if set
	Kinds []string // only these kinds, if set
	Limit int      // at most this many, if > 0
}

// Events calls fn for each matching event in seq order.
func (s *Store) Events(ctx context.Context, f Filter, fn func(Event) error) error {
	q := "SELECT " + eventColumns + " FROM events WHERE seq > ?"
	args := []any{f.After}
	if f.Team != "" {
		q += " AND (team = ? OR team = '')"
		args = append(args, f.Team)
	}
	if len(f.Kinds) > 0 {
		q += " AND kind IN (" + strings.TrimSuffix(strings.Repeat("?,", len(f.Kinds)), ",") + ")"
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

const eventColumns = "seq, time, clock, team, kind, data, score, public, team_sees"

func scanEvent(rows *sql.Rows) (Event, error) {
	var e Event
	var t, c int64
	var data string
	if err := rows.Scan(&e.Seq, &t, &c, &e.Team, &e.Kind, &data, &e.Score, &e.Public, &e.TeamSees); err != nil {
		return e, fmt.Errorf("read events: %w", err)
	}
	e.Time, e.Clock, e.Data = time.Unix(0, t), time.Duration(c), json.RawMessage(data)
	return e, nil
}

// LastSeq is the highest seq in the log, 0 when empty.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT MAX(seq) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq.Int64, nil
}

// SetMeta stores exercise metadata.
func (s *Store) SetMeta(ctx context.Context, kv map[string]string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set meta: %w", err)
	}
	defer tx.Rollback()
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", k, v); err != nil {
			return fmt.Errorf("set meta %s: %w", k, err)
		}
	}
	return tx.Commit()
}

// Meta returns all metadata.
func (s *Store) Meta(ctx context.Context) (map[string]string, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT key, value FROM meta")
	if err != nil {
		return nil, fmt.Errorf("read meta: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SaveCheckpoint replaces the plant checkpoint.
func (s *Store) SaveCheckpoint(ctx context.Context, clock time.Duration, plant []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO checkpoint (id, clock, time, plant) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET clock = excluded.clock, time = excluded.time, plant = excluded.plant`,
		int64(clock), time.Now().UnixNano(), plant)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// ErrNoCheckpoint is returned when no checkpoint was saved.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Checkpoint returns the latest plant checkpoint.
func (s *Store) Checkpoint(ctx context.Context) (time.Duration, []byte, error) {
	var c int64
	var plant []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT clock, plant FROM checkpoint WHERE id = 1").Scan(&c, &plant)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return time.Duration(c), plant, nil
}

// SaveHolds replaces the saved timers of for: rules (JSON) as they are at
// an exercise time.
func (s *Store) SaveHolds(ctx context.Context, clock time.Duration, data []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO holds (id, clock, data) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET clock = excluded.clock, data = excluded.data`, int64(clock), string(data))
	if err != nil {
		return fmt.Errorf("save for: timers: %w", err)
	}
	return nil
}

// Holds returns the saved timers of for: rules and their exercise time;
// ErrNoCheckpoint when none were saved.
func (s *Store) Holds(ctx context.Context) (time.Duration, []byte, error) {
	var c int64
	var data string
	err := s.db.QueryRowContext(ctx, "SELECT clock, data FROM holds WHERE id = 1").Scan(&c, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read for: timers: %w", err)
	}
	return time.Duration(c), []byte(data), nil
}

// Sample is one team's plant values at one exercise time.
type Sample struct {
	Clock time.Duration
	Team  string
	Data  json.RawMessage
}

// AppendSamples writes samples in one transaction; a sample already taken
// at that time (after a resume) is kept as it was.
func (s *Store) AppendSamples(ctx context.Context, samples []Sample) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append samples: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO samples (clock, team, data) VALUES (?, ?, ?)")
	if err != nil {
		return fmt.Errorf("append samples: %w", err)
	}
	defer stmt.Close()
	for _, sm := range samples {
		if _, err := stmt.ExecContext(ctx, int64(sm.Clock), sm.Team, string(sm.Data)); err != nil {
			return fmt.Errorf("append sample: %w", err)
		}
	}
	return tx.Commit()
}

// Samples calls fn for every sample of a team ("" = all) in time order.
func (s *Store) Samples(ctx context.Context, team string, fn func(Sample) error) error {
	q := "SELECT clock, team, data FROM samples"
	var args []any
	if team != "" {
		q += " WHERE team = ?"
		args = append(args, team)
	}
	q += " ORDER BY clock, team"
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read samples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sm Sample
		var c int64
		var data string
		if err := rows.Scan(&c, &sm.Team, &data); err != nil {
			return err
		}
		sm.Clock, sm.Data = time.Duration(c), json.RawMessage(data)
		if err := fn(sm); err != nil {
			return err
		}
	}
	return rows.Err()
}
