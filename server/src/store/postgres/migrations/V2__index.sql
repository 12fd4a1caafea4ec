-- The index: client-core's projection of the documents into rows (same tables, same columns,
-- the record's JSON last), derivable again from the documents at any time. Dates are `date`,
-- the records `jsonb`; the rest is text as the projection computes it.

CREATE TABLE customers (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    postcode text,
    birthday text,
    grade    text,
    status   text NOT NULL,
    agent    text,
    json     jsonb NOT NULL
);
CREATE INDEX customers_by_agent ON customers (agent);

CREATE TABLE policies (
    id       text PRIMARY KEY,
    customer text NOT NULL,
    number   text NOT NULL,
    due_date date NOT NULL,
    status   text NOT NULL,
    json     jsonb NOT NULL
);
CREATE INDEX policies_by_customer ON policies (customer);
CREATE INDEX policies_by_due ON policies (due_date);

CREATE TABLE visits (
    id       text PRIMARY KEY,
    customer text NOT NULL,
    agent    text NOT NULL,
    day      date NOT NULL,
    json     jsonb NOT NULL
);
CREATE INDEX visits_by_day ON visits (day, agent);
CREATE INDEX visits_by_customer ON visits (customer);

CREATE TABLE contacts (
    id       text PRIMARY KEY,
    customer text NOT NULL,
    agent    text NOT NULL,
    day      date NOT NULL,
    json     jsonb NOT NULL
);
CREATE INDEX contacts_by_day ON contacts (day, agent);
CREATE INDEX contacts_by_customer ON contacts (customer);

CREATE TABLE comments (
    id       text PRIMARY KEY,
    customer text NOT NULL,
    visit    text NOT NULL,
    json     jsonb NOT NULL
);
CREATE INDEX comments_by_visit ON comments (visit);
CREATE INDEX comments_by_customer ON comments (customer);

CREATE TABLE days (
    doc   text PRIMARY KEY,
    agent text NOT NULL,
    date  date NOT NULL,
    json  jsonb NOT NULL
);
CREATE INDEX days_by_date ON days (date, agent);

CREATE TABLE problems (
    id     text PRIMARY KEY,
    doc    text NOT NULL,
    agent  text NOT NULL,
    date   date NOT NULL,
    level  text NOT NULL,
    status text NOT NULL,
    json   jsonb NOT NULL
);
CREATE INDEX problems_by_doc ON problems (doc);

-- Fields edited concurrently; `seq` keeps a document's conflicts in the order written.
CREATE TABLE conflicts (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc    text NOT NULL,
    object text NOT NULL,
    field  text NOT NULL,
    json   jsonb NOT NULL
);
CREATE INDEX conflicts_by_doc ON conflicts (doc);

-- What changed in the watched index tables, for the managers' cached working sets: a trigger
-- appends the key of every row inserted, updated or deleted, in the writer's transaction,
-- whichever instance writes. `seq` values commit out of order across instances: a reader
-- takes the touches whose `xid` is below its snapshot's xmin (every transaction before it has
-- ended) and remembers that xid, not the highest seq seen.
CREATE TABLE index_touches (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tbl text NOT NULL,
    id  text NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX index_touches_by_xid ON index_touches (xid);

-- TG_ARGV[0]: the table's key column.
CREATE FUNCTION index_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO index_touches (tbl, id) VALUES (TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0]);
    ELSE
        INSERT INTO index_touches (tbl, id) VALUES (TG_TABLE_NAME, to_jsonb(NEW) ->> TG_ARGV[0]);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER customers_touch AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION index_touch('id');
CREATE TRIGGER policies_touch AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION index_touch('id');
CREATE TRIGGER visits_touch AFTER INSERT OR UPDATE OR DELETE ON visits
    FOR EACH ROW EXECUTE FUNCTION index_touch('id');
CREATE TRIGGER contacts_touch AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION index_touch('id');
CREATE TRIGGER days_touch AFTER INSERT OR UPDATE OR DELETE ON days
    FOR EACH ROW EXECUTE FUNCTION index_touch('doc');
