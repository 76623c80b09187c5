package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TrafficRow is a stored Modbus transaction, or a summary of several.
type TrafficRow struct {
	ID        int64         `json:"id"`
	Team      string        `json:"team"`
	PLC       string        `json:"plc"`
	Clock     time.Duration `json:"-"`
	LastClock time.Duration `json:"-"`
	Conn      uint64        `json:"conn"`
	Source    string        `json:"source"`
	Note      string        `json:"note,omitempty"`
	Listen    string        `json:"-"`
	Unit      int           `json:"unit"`
	Function  int           `json:"fc"`
	Addr      int           `json:"addr"`
	Qty       int           `json:"qty"`
	Values    string        `json:"values,omitempty"`
	Tags      string        `json:"tags,omitempty"`
	Trainee   bool          `json:"-"`
	Exception int           `json:"exception,omitempty"`
	NoReply   bool          `json:"no_reply,omitempty"`
	Request   []byte        `json:"-"`
	Response  []byte        `json:"-"`
	Count     int           `json:"count"`
}

// AuditRow is a stored audit entry, or a summary of several alike.
type AuditRow struct {
	ID     int64         `json:"id"`
	Team   string        `json:"team"`
	PLC    string        `json:"plc"`
	Clock  time.Duration `json:"-"`
	Kind   string        `json:"kind"`
	Source string        `json:"source,omitempty"`
	Detail string        `json:"detail"`
	Count  int           `json:"count"`
}

// AppendTraffic writes traffic and audit rows in one transaction and sets
// their IDs.
func (s *Store) AppendTraffic(ctx context.Context, tx []*TrafficRow, audit []*AuditRow) error {
	if len(tx) == 0 && len(audit) == 0 {
		return nil
	}
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append traffic: %w", err)
	}
	defer t.Rollback()
	if len(tx) > 0 {
		stmt, err := t.PrepareContext(ctx, `INSERT INTO traffic (team, plc, clock, last_clock, conn, source, note, listen,
			unit, fc, addr, qty, vals, tags, trainee, exception, no_reply, req, resp, count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("append traffic: %w", err)
		}
		defer stmt.Close()
		for _, r := range tx {
			res, err := stmt.ExecContext(ctx, r.Team, r.PLC, int64(r.Clock), int64(r.LastClock), int64(r.Conn), r.Source, r.Note, r.Listen,
				r.Unit, r.Function, r.Addr, r.Qty, r.Values, r.Tags, r.Trainee, r.Exception, r.NoReply, r.Request, r.Response, r.Count)
			if err != nil {
				return fmt.Errorf("append traffic: %w", err)
			}
			if r.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
	}
	if len(audit) > 0 {
		stmt, err := t.PrepareContext(ctx, `INSERT INTO audit (team, plc, clock, kind, source, detail, count) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		defer stmt.Close()
		for _, a := range audit {
			res, err := stmt.ExecContext(ctx, a.Team, a.PLC, int64(a.Clock), a.Kind, a.Source, a.Detail, a.Count)
			if err != nil {
				return fmt.Errorf("append audit: %w", err)
			}
			if a.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
	}
	return t.Commit()
}

// TrafficFilter narrows a read of the traffic log.
type TrafficFilter struct {
	Team       string // required
	After      int64  // rows with id > After
	Before     int64  // rows with id < Before, if > 0 (paging backwards)
	PLC        string
	Source     string // matches the address with or without the port
	Function   int    // 0 = any
	WritesOnly bool
	Limit      int  // default 200
	Frames     bool // also read the raw frames
	Newest     bool // the newest Limit rows (still returned oldest first)
}

var writeFunctions = []int{5, 6, 15, 16, 23}

// Traffic reads traffic rows, oldest first.
func (s *Store) Traffic(ctx context.Context, f TrafficFilter) ([]TrafficRow, error) {
	cols := "id, team, plc, clock, last_clock, conn, source, note, listen, unit, fc, addr, qty, vals, tags, trainee, exception, no_reply, count"
	if f.Frames {
		cols += ", req, resp"
	}
	q := "SELECT " + cols + " FROM traffic WHERE team = ? AND id > ?"
	args := []any{f.Team, f.After}
	if f.Before > 0 {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	if f.PLC != "" {
		q += " AND plc = ?"
		args = append(args, f.PLC)
	}
	if f.Source != "" {
		// An address matches with any port; IPv6 sources are stored in
		// brackets ([::1]:port).
		q += " AND (source = ? OR source LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\')"
		host := strings.Trim(f.Source, "[]")
		args = append(args, f.Source, likeEscape(host)+":%", "["+likeEscape(host)+"]:%")
	}
	if f.Function > 0 {
		q += " AND fc = ?"
		args = append(args, f.Function)
	}
	if f.WritesOnly {
		q += " AND fc IN (5, 6, 15, 16, 23)"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	order := "ASC"
	if f.Newest {
		order = "DESC"
	}
	q += fmt.Sprintf(" ORDER BY id %s LIMIT %d", order, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read traffic: %w", err)
	}
	defer rows.Close()
	var out []TrafficRow
	for rows.Next() {
		var r TrafficRow
		var clock, last, conn int64
		dst := []any{&r.ID, &r.Team, &r.PLC, &clock, &last, &conn, &r.Source, &r.Note, &r.Listen, &r.Unit, &r.Function,
			&r.Addr, &r.Qty, &r.Values, &r.Tags, &r.Trainee, &r.Exception, &r.NoReply, &r.Count}
		if f.Frames {
			dst = append(dst, &r.Request, &r.Response)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("read traffic: %w", err)
		}
		r.Clock, r.LastClock, r.Conn = time.Duration(clock), time.Duration(last), uint64(conn)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if f.Newest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Audit reads a team's audit rows after id, oldest first (newest Limit
// rows when newest is set).
func (s *Store) Audit(ctx context.Context, team, plc string, after int64, limit int, newest bool) ([]AuditRow, error) {
	q := "SELECT id, team, plc, clock, kind, source, detail, count FROM audit WHERE team = ? AND id > ?"
	args := []any{team, after}
	if plc != "" {
		q += " AND plc = ?"
		args = append(args, plc)
	}
	if limit <= 0 {
		limit = 200
	}
	order := "ASC"
	if newest {
		order = "DESC"
	}
	q += fmt.Sprintf(" ORDER BY id %s LIMIT %d", order, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var a AuditRow
		var clock int64
		if err := rows.Scan(&a.ID, &a.Team, &a.PLC, &clock, &a.Kind, &a.Source, &a.Detail, &a.Count); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		a.Clock = time.Duration(clock)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if newest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// TrafficCounts are a team's aggregate counts, to rebuild rule state after
// a restart.
type TrafficCounts struct {
	WritesFrom   map[string]int // source address (no port) → writes
	TraineeWrote map[string]int // "plc.tag" → trainee writes
	Rows         map[string]int // plc → stored rows
}

// TrafficCounts aggregates a team's traffic log.
func (s *Store) TrafficCounts(ctx context.Context, team string) (TrafficCounts, error) {
	c := TrafficCounts{WritesFrom: map[string]int{}, TraineeWrote: map[string]int{}, Rows: map[string]int{}}
	rows, err := s.rdb.QueryContext(ctx, "SELECT plc, source, tags, trainee, count, fc FROM traffic WHERE team = ?", team)
	if err != nil {
		return c, fmt.Errorf("count traffic: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var plc, source, tags string
		var trainee bool
		var count, fc int
		if err := rows.Scan(&plc, &source, &tags, &trainee, &count, &fc); err != nil {
			return c, err
		}
		c.Rows[plc]++
		if !isWrite(fc) {
			continue
		}
		c.WritesFrom[HostOf(source)] += count
		if trainee && tags != "" {
			for _, t := range strings.Split(tags, ",") {
				c.TraineeWrote[plc+"."+t] += count
			}
		}
	}
	return c, rows.Err()
}

func isWrite(fc int) bool {
	for _, w := range writeFunctions {
		if fc == w {
			return true
		}
	}
	return false
}

// HostOf strips the port from an ip:port source.
func HostOf(source string) string {
	if i := strings.LastIndexByte(source, ':'); i > 0 && !strings.Contains(source[i:], "]") {
		return strings.Trim(source[:i], "[]")
	}
	return source
}
