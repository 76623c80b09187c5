package store

import (
	"context"
	"fmt"
	"time"
)

// PacketRow is a stored captured packet.
type PacketRow struct {
	ID   int64
	Team string
	PLC  string
	Seq  uint64    // the PLC capture's number
	Time time.Time // when the PLC's kernel saw it
	// Len is the frame's length on the wire; Data may be cut at the
	// capture's snap length.
	Len         int
	CsumPartial bool // the TCP checksum was left to the NIC (offload)
	Data        []byte
}

// AppendPackets writes packets in one transaction and sets their IDs.
func (s *Store) AppendPackets(ctx context.Context, pkts []*PacketRow) error {
	if len(pkts) == 0 {
		return nil
	}
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append packets: %w", err)
	}
	defer t.Rollback()
	stmt, err := t.PrepareContext(ctx, `INSERT INTO packets (team, plc, seq, time, len, csum_partial, data) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("append packets: %w", err)
	}
	defer stmt.Close()
	for _, p := range pkts {
		res, err := stmt.ExecContext(ctx, p.Team, p.PLC, int64(p.Seq), p.Time.UnixNano(), p.Len, p.CsumPartial, p.Data)
		if err != nil {
			return fmt.Errorf("append packets: %w", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("append packets: %w", err)
	}
	return nil
}

// PacketFilter narrows a read of captured packets.
type PacketFilter struct {
	Team  string // required
	PLC   string // "" for every PLC of the team
	After int64  // packets with id > After
	Limit int    // default 1000
}

// Packets reads captured packets in the order they were stored (per PLC,
// capture order; PLCs interleave by collection).
func (s *Store) Packets(ctx context.Context, f PacketFilter) ([]PacketRow, error) {
	q := "SELECT id, team, plc, seq, time, len, csum_partial, data FROM packets WHERE team = ? AND id > ?"
	args := []any{f.Team, f.After}
	if f.PLC != "" {
		q += " AND plc = ?"
		args = append(args, f.PLC)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q += fmt.Sprintf(" ORDER BY id LIMIT %d", limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read packets: %w", err)
	}
	defer rows.Close()
	var out []PacketRow
	for rows.Next() {
		var p PacketRow
		var seq, ns int64
		if err := rows.Scan(&p.ID, &p.Team, &p.PLC, &seq, &ns, &p.Len, &p.CsumPartial, &p.Data); err != nil {
			return nil, fmt.Errorf("read packets: %w", err)
		}
		p.Seq, p.Time = uint64(seq), time.Unix(0, ns).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// PacketCount is what a PLC has stored: how many packets, and the capture
// seq of the last one stored.
type PacketCount struct {
	Packets int
	LastSeq uint64
}

// PacketCounts tells, per PLC of a team, what it has stored.
func (s *Store) PacketCounts(ctx context.Context, team string) (map[string]PacketCount, error) {
	// SQLite: with MAX(id), the bare column seq comes from that row.
	rows, err := s.rdb.QueryContext(ctx, "SELECT plc, COUNT(*), seq, MAX(id) FROM packets WHERE team = ? GROUP BY plc", team)
	if err != nil {
		return nil, fmt.Errorf("count packets: %w", err)
	}
	defer rows.Close()
	out := map[string]PacketCount{}
	for rows.Next() {
		var plc string
		var n int
		var seq, id int64
		if err := rows.Scan(&plc, &n, &seq, &id); err != nil {
			return nil, fmt.Errorf("count packets: %w", err)
		}
		out[plc] = PacketCount{Packets: n, LastSeq: uint64(seq)}
	}
	return out, rows.Err()
}
