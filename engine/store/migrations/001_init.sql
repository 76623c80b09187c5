-- The event log: append-only, the truth of an exercise.
CREATE TABLE events (
    seq   INTEGER PRIMARY KEY,
    time  INTEGER NOT NULL,           -- wall clock, unix nanoseconds
    clock INTEGER NOT NULL,           -- exercise clock, nanoseconds
    team  TEXT NOT NULL DEFAULT '',   -- '' for exercise-wide events
    kind  TEXT NOT NULL,
    data  TEXT NOT NULL DEFAULT '{}'  -- JSON
);
CREATE INDEX events_team ON events (team, seq);
CREATE INDEX events_kind ON events (kind, seq);

-- Facts about the exercise set once at creation (scenario, seed, teams).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The latest plant snapshot, so a resumed engine restores physics too.
CREATE TABLE checkpoint (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    clock INTEGER NOT NULL,
    time  INTEGER NOT NULL,
    plant BLOB NOT NULL
);
