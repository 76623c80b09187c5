-- Packets captured at the PLCs' own interfaces (Docker backend, icsrange
-- plc --capture): the real frames, Ethernet first, for pcap export. Each
-- PLC keeps the first packets up to its cap; the engine counts the rest.
CREATE TABLE packets (
    id           INTEGER PRIMARY KEY,
    team         TEXT NOT NULL,
    plc          TEXT NOT NULL,
    seq          INTEGER NOT NULL,            -- the PLC capture's number
    time         INTEGER NOT NULL,            -- when the PLC's kernel saw it, Unix ns
    len          INTEGER NOT NULL,            -- length on the wire; data may be shorter (snap length)
    csum_partial INTEGER NOT NULL DEFAULT 0,  -- TCP checksum left to the NIC (sent with offload)
    data         BLOB NOT NULL
);
CREATE INDEX packets_team ON packets (team, id);
