-- The timers of for: rules (when each objective's condition started
-- holding, per team) at an exercise time. Derived state, but not derivable
-- from the log: rule evaluations that change nothing are not events. Kept
-- so a resumed exercise finishes a hold instead of starting it over.
CREATE TABLE holds (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    clock INTEGER NOT NULL,  -- exercise clock, nanoseconds
    data  TEXT NOT NULL      -- JSON: {"team": {"objective": start clock in ns}}
);
