-- Plant samples for the after-action report: every team's analog values,
-- truth and reported, every few seconds of exercise time.
CREATE TABLE samples (
    clock INTEGER NOT NULL,  -- exercise clock, nanoseconds
    team  TEXT NOT NULL,
    data  TEXT NOT NULL,     -- JSON: {"plc": {"tag": [truth, reported]}}
    PRIMARY KEY (team, clock)
);
