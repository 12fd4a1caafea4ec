-- The documents: the Automerge bytes, the only source of truth (client-core's `documents`,
-- `chunks` and `sync_states`, with PostgreSQL types), and the log of changes received.

-- One row per document: its heads as stored (sorted), how many chunks and bytes it has.
-- A writer locks this row (SELECT ... FOR UPDATE) for as long as it reads, merges and appends,
-- so two instances merging into the same document take turns and a compaction never races a
-- writer.
CREATE TABLE documents (
    doc        text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('customer', 'day')),
    heads      bytea[] NOT NULL,
    chunks     integer NOT NULL,
    bytes      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only chunks: a document is the concatenation of its chunks in id order. Only a
-- compaction (one snapshot replacing them all, under the document's row lock) deletes any.
CREATE TABLE chunks (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  text NOT NULL REFERENCES documents (doc) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
    data bytea NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks (doc, id);

-- Automerge sync states per document and peer (a device id, or a desk's): only the shared
-- heads outlive a session, so a device that hops between instances starts from them. (No
-- reference to `documents`: a state may be kept for a document the server refused to store.)
CREATE TABLE sync_states (
    doc          text NOT NULL,
    peer         text NOT NULL,
    state        bytea NOT NULL,
    shared_heads bytea[] NOT NULL,
    PRIMARY KEY (doc, peer)
);
CREATE INDEX sync_states_by_peer ON sync_states (peer);

-- Every change the server stored, when and through what (a device's sync, `admin`).
-- `xid` is the writing transaction: identity values commit out of order across instances,
-- so a reader that follows this log takes rows whose xid is below its snapshot's xmin.
CREATE TABLE change_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    hash        bytea PRIMARY KEY,
    doc         text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    via         text NOT NULL,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX change_log_by_doc ON change_log (doc);
