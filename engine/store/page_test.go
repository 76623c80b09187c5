package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// pageLog is a log of n events over teams a, b and exercise-wide ones,
// with audiences drawn at random (seeded).
func pageLog(t *testing.T, n int) (*Store, []Event) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	evs := make([]*Event, n)
	for i := range evs {
		evs[i] = &Event{Time: time.Unix(1700000000, 0), Clock: time.Duration(i) * time.Second, Team: []string{"", "a", "b"}[r.IntN(3)],
			Kind: "k", Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), Score: r.IntN(100), Public: r.IntN(3) == 0, TeamSees: r.IntN(2) == 0}
	}
	if err := s.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	out := make([]Event, n)
	for i, e := range evs {
		out[i] = *e
	}
	return s, out
}

// want is Page the slow way: filter everything, then cut.
func want(all []Event, p Page) []int64 {
	var m []int64
	for _, e := range all {
		if e.Seq <= p.After || (p.Before > 0 && e.Seq >= p.Before) {
			continue
		}
		ok := true
		switch p.Reader {
		case ReadPublic:
			ok = e.Public
		case ReadTeam:
			ok = e.TeamSees && (e.Team == "" || e.Team == p.Team)
		default:
			ok = p.Team == "" || e.Team == "" || e.Team == p.Team
		}
		if ok {
			m = append(m, e.Seq)
		}
	}
	if len(m) > p.Limit {
		if p.Newest {
			m = m[len(m)-p.Limit:]
		} else {
			m = m[:p.Limit]
		}
	}
	return m
}

func TestPage(t *testing.T) {
	s, all := pageLog(t, 600)
	ctx := context.Background()
	readers := []Page{{Reader: ReadAll}, {Reader: ReadAll, Team: "a"}, {Reader: ReadPublic}, {Reader: ReadTeam, Team: "a"}, {Reader: ReadTeam, Team: "b"}}
	windows := [][2]int64{{0, 0}, {0, 100}, {250, 0}, {250, 400}, {599, 0}, {600, 0}, {0, 1}, {300, 301}}
	for _, r := range readers {
		for _, w := range windows {
			for _, limit := range []int{1, 7, 50, 1000} {
				for _, newest := range []bool{false, true} {
					p := r
					p.After, p.Before, p.Limit, p.Newest = w[0], w[1], limit, newest
					got, err := s.Page(ctx, p)
					if err != nil {
						t.Fatalf("%+v: %v", p, err)
					}
					seqs := make([]int64, len(got))
					for i, e := range got {
						seqs[i] = e.Seq
					}
					if w := want(all, p); !slices.Equal(seqs, w) {
						t.Fatalf("%+v: seqs %v, want %v", p, seqs, w)
					}
					if n, err := s.Count(ctx, p); err != nil || n != len(seqs) {
						t.Fatalf("%+v: Count %d (%v), Page %d", p, n, err, len(seqs))
					}
					for _, e := range got {
						if !same(e, all[e.Seq-1]) {
							t.Fatalf("%+v: event %d read back as %+v, written %+v", p, e.Seq, e, all[e.Seq-1])
						}
					}
				}
			}
		}
	}
	for _, p := range []Page{{Reader: ReadAll}, {Reader: ReadTeam, Limit: 5}, {Reader: ReadPublic, Team: "a", Limit: 5}} {
		if _, err := s.Page(ctx, p); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

// same compares an event read back with the one written.
func same(a, b Event) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Clock == b.Clock && a.Team == b.Team && a.Kind == b.Kind &&
		string(a.Data) == string(b.Data) && a.Score == b.Score && a.Public == b.Public && a.TeamSees == b.TeamSees
}

// Every page is an index walk that stops after Limit rows: no query scans
// the events table, and none sorts more than the two walks it merges. A
// count of the public's or a team's reads the index alone.
func TestPageUsesIndexes(t *testing.T) {
	s, _ := pageLog(t, 200)
	for _, p := range []Page{
		{Reader: ReadAll, Limit: 10}, {Reader: ReadAll, Limit: 10, Newest: true, Before: 100},
		{Reader: ReadAll, Team: "a", Limit: 10, After: 5}, {Reader: ReadPublic, Limit: 10, Newest: true},
		{Reader: ReadTeam, Team: "a", Limit: 10, Before: 150, Newest: true}, {Reader: ReadTeam, Team: "b", Limit: 10, After: 20},
	} {
		for _, count := range []bool{false, true} {
			q, args, err := pageQuery(p, eventColumns)
			if err != nil {
				t.Fatal(err)
			}
			if count {
				q, args, _ = pageQuery(p, "seq")
				q = "SELECT COUNT(*) FROM (" + q + ")"
			}
			rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			detail := map[int]string{}
			type node struct{ id, parent int }
			var nodes []node
			for rows.Next() {
				var id, parent, notused int
				var d string
				if err := rows.Scan(&id, &parent, &notused, &d); err != nil {
					t.Fatal(err)
				}
				detail[id] = d
				nodes = append(nodes, node{id, parent})
				plan = append(plan, d)
			}
			rows.Close()
			text := strings.Join(plan, "; ")
			if !strings.Contains(text, "SEARCH events USING") {
				t.Errorf("%+v: plan %q does not search an index", p, text)
			}
			for _, n := range nodes {
				d := detail[n.id]
				switch {
				case strings.Contains(d, "SCAN events"):
					t.Errorf("%+v: plan %q scans the table", p, text)
				// A sort is fine only of what two walks hand to their merge
				// (at most Limit rows each), never inside a walk.
				case strings.Contains(d, "TEMP B-TREE") && (p.Team == "" || strings.HasPrefix(detail[n.parent], "CO-ROUTINE")):
					t.Errorf("%+v: plan %q sorts the window", p, text)
				}
			}
			if count && p.Reader != ReadAll && !strings.Contains(text, "COVERING INDEX") {
				t.Errorf("%+v: count plan %q reads the events, not only the index", p, text)
			}
			t.Logf("%+v (count %v): %s", p, count, text)
		}
	}
}

// An old log gets scores and audiences by Annotate; pages see them at once.
func TestAnnotate(t *testing.T) {
	s, all := pageLog(t, 50)
	ctx := context.Background()
	fix := make([]Event, 0, len(all))
	for _, e := range all {
		e.Public, e.TeamSees, e.Score = !e.Public, !e.TeamSees, e.Score+1
		fix = append(fix, e)
	}
	if err := s.Annotate(ctx, fix); err != nil {
		t.Fatal(err)
	}
	got, err := s.Page(ctx, Page{Reader: ReadAll, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if !same(e, fix[i]) {
			t.Fatalf("event %d after Annotate: %+v, want %+v", e.Seq, e, fix[i])
		}
	}
}

// A log written before events kept their score and audience opens with
// them zero (until the engine annotates it) and pages as such.
func TestMigrateOldLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names[:4] {
		body, _ := migrations.ReadFile(name)
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 4; INSERT INTO events (time, clock, team, kind, data) VALUES (1, 2, 'a', 'score.adjusted', '{"points":3}')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Page(context.Background(), Page{Reader: ReadAll, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Kind != "score.adjusted" || evs[0].Score != 0 || evs[0].Public || evs[0].TeamSees {
		t.Fatalf("the old event after migrating: %+v (%v)", evs, err)
	}
	if pub, err := s.Page(context.Background(), Page{Reader: ReadPublic, Limit: 10}); err != nil || len(pub) != 0 {
		t.Fatalf("unannotated events the public sees: %+v (%v)", pub, err)
	}
}
