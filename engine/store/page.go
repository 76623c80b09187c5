package store

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Reader is who a page of the log is for.
type Reader int

// Readers.
const (
	ReadAll    Reader = iota // the instructor: every event
	ReadPublic               // the public scoreboard: events marked Public
	ReadTeam                 // one team: its own and the exercise-wide events marked TeamSees
)

// Page is a window of the log as one reader sees it.
type Page struct {
	Reader Reader
	// Team is the team of ReadTeam; with ReadAll, if set, only that team's
	// events and the exercise-wide ones.
	Team   string
	After  int64 // only seq > After
	Before int64 // only seq < Before, if > 0
	Limit  int   // at most this many; must be > 0
	// Newest takes the newest Limit events of the window instead of the
	// oldest. Either way they come back in seq order.
	Newest bool
}

// Page returns a window of the log. Each query walks an index from one end
// of the window and stops after Limit rows — a team's page merges two such
// walks, its own events and the exercise-wide ones — so a page costs
// O(Limit) however long the log is.
func (s *Store) Page(ctx context.Context, p Page) ([]Event, error) {
	q, args, err := pageQuery(p, eventColumns)
	if err != nil {
		return nil, fmt.Errorf("read a page of events: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read a page of events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read a page of events: %w", err)
	}
	if p.Newest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// Count is how many events the page would hold: like Page, it stops after
// Limit, and it reads the indexes only, not the events.
func (s *Store) Count(ctx context.Context, p Page) (int, error) {
	q, args, err := pageQuery(p, "seq")
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+q+")", args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// pageQuery is the query for a page, selecting cols.
func pageQuery(p Page, cols string) (string, []any, error) {
	if p.Limit <= 0 {
		return "", nil, fmt.Errorf("limit %d", p.Limit)
	}
	if p.Reader == ReadTeam && p.Team == "" {
		return "", nil, errors.New("a team's page needs the team")
	}
	if p.Reader == ReadPublic && p.Team != "" {
		return "", nil, errors.New("the public page is every team's")
	}
	before := p.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	order := "seq"
	if p.Newest {
		order = "seq DESC"
	}
	// INDEXED BY pins the walk (the planner has no statistics to choose
	// by) and makes a query that can't use its index an error.
	walk := func(index, where string, args ...any) (string, []any) {
		return "SELECT " + cols + " FROM events " + index + " WHERE " + where + "seq > ? AND seq < ? ORDER BY " + order + " LIMIT ?",
			append(args, p.After, before, p.Limit)
	}
	var q string
	var args []any
	switch {
	case p.Reader == ReadPublic:
		q, args = walk("INDEXED BY events_public", "public = 1 AND ")
	case p.Team != "":
		index, seen := "INDEXED BY events_team", ""
		if p.Reader == ReadTeam {
			index, seen = "INDEXED BY events_team_sees", "team_sees = 1 AND "
		}
		own, ownArgs := walk(index, "team = ? AND "+seen, p.Team)
		wide, wideArgs := walk(index, "team = '' AND "+seen)
		q = "SELECT " + cols + " FROM (" + own + ") UNION ALL SELECT " + cols + " FROM (" + wide + ") ORDER BY " + order + " LIMIT ?"
		args = append(append(ownArgs, wideArgs...), p.Limit)
	default:
		q, args = walk("", "")
	}
	return q, args, nil
}

// Annotate rewrites the score and audience of events already in the log,
// by seq: for a log written before they were kept, or under other rules of
// who sees what.
func (s *Store) Annotate(ctx context.Context, evs []Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("annotate events: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "UPDATE events SET score = ?, public = ?, team_sees = ? WHERE seq = ?")
	if err != nil {
		return fmt.Errorf("annotate events: %w", err)
	}
	defer stmt.Close()
	for _, e := range evs {
		if _, err := stmt.ExecContext(ctx, e.Score, e.Public, e.TeamSees, e.Seq); err != nil {
			return fmt.Errorf("annotate event %d: %w", e.Seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("annotate events: %w", err)
	}
	return nil
}
