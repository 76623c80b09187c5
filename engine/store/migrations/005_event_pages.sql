-- What a reader needs to page the log without folding it, set by the engine
-- as it commits each event: the team's score after it, and who besides the
-- instructor may see it. Logs written before these columns get them when
-- the engine next opens the log (it replays it anyway).
ALTER TABLE events ADD COLUMN score INTEGER NOT NULL DEFAULT 0;     -- the team's score after the event
ALTER TABLE events ADD COLUMN public INTEGER NOT NULL DEFAULT 0;    -- 1: the public scoreboard shows it
ALTER TABLE events ADD COLUMN team_sees INTEGER NOT NULL DEFAULT 0; -- 1: its team (every team, if exercise-wide) sees it
CREATE INDEX events_public ON events (public, seq);
CREATE INDEX events_team_sees ON events (team, team_sees, seq);
