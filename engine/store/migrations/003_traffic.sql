-- The Modbus traffic log: every transaction a team's PLCs served, as
-- attributed (a trainee's tool, an attack from a scenario host, a forwarded
-- session), with its frames for pcap export. Floods are summarised: a row
-- with count > 1 stands for count transactions and keeps no frames.
CREATE TABLE traffic (
    id         INTEGER PRIMARY KEY,
    team       TEXT NOT NULL,
    plc        TEXT NOT NULL,
    clock      INTEGER NOT NULL,            -- exercise clock, ns (first, for a summary)
    last_clock INTEGER NOT NULL,            -- last transaction's clock
    conn       INTEGER NOT NULL,            -- the PLC's connection number (a TCP stream)
    source     TEXT NOT NULL,               -- ip:port as attributed
    note       TEXT NOT NULL DEFAULT '',
    listen     TEXT NOT NULL DEFAULT '',    -- the PLC address the client reached
    unit       INTEGER NOT NULL,
    fc         INTEGER NOT NULL,
    addr       INTEGER NOT NULL,
    qty        INTEGER NOT NULL,
    vals       TEXT NOT NULL DEFAULT '',    -- written values, comma-separated
    tags       TEXT NOT NULL DEFAULT '',    -- tags written, comma-separated
    trainee    INTEGER NOT NULL DEFAULT 0,  -- from no scenario host: the team's own tools
    exception  INTEGER NOT NULL DEFAULT 0,
    no_reply   INTEGER NOT NULL DEFAULT 0,
    req        BLOB,
    resp       BLOB,
    count      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX traffic_team ON traffic (team, id);

-- The PLCs' audit trails: connections, exceptions, mode and logic changes,
-- trips, bypass changes, faults.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    team   TEXT NOT NULL,
    plc    TEXT NOT NULL,
    clock  INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL,
    count  INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_team ON audit (team, id);
