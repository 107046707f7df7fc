-- 002_write_path: fewer values per stored span, and tables that concurrent
-- writers only append to.
--
--   * spans becomes a view over span_rows. span_rows keeps the columns most
--     spans set; service, version and host come from the span's resource
--     unless the span differs from it, and the rarely set typed fields
--     (status_message, rpc_*, db_*, peer_service, exception_type) live in the
--     compact JSON object span_rows.extra. The view presents every column of
--     001's spans table, duration_ns included, so queries keep working.
--     extra's members: "service", "version", "host" (present when the span's
--     value differs from its resource's; "" means the span has none) and the
--     typed fields by column name; a member that is absent or JSON null
--     means NULL (inherit, for service/version/host).
--   * audit and lock_edges become views aggregating append-only delta rows
--     (audit_rows, lock_edge_rows): two transactions that count the same key
--     no longer update the same row. The store folds the deltas back into
--     one row per key from time to time; the views are unchanged by that.

CREATE TABLE span_rows (
    trace_id         UUID NOT NULL,    -- id: span:<trace_hex>/<span_hex>
    span_id          UBIGINT NOT NULL,
    parent_span_id   UBIGINT,
    resource_id      VARCHAR,
    name             VARCHAR,
    kind             TINYINT NOT NULL,
    status_code      TINYINT NOT NULL,
    start_ns         BIGINT NOT NULL,
    end_ns           BIGINT NOT NULL,
    thread_id        BIGINT,
    process_pid      BIGINT,
    http_route       VARCHAR,
    http_method      VARCHAR,
    http_status_code BIGINT,
    extra            VARCHAR,
    attrs            VARCHAR
);

INSERT INTO span_rows
SELECT s.trace_id, s.span_id, s.parent_span_id, s.resource_id, s.name, s.kind, s.status_code,
       s.start_ns, s.end_ns, s.thread_id, s.process_pid, s.http_route, s.http_method, s.http_status_code,
       CASE WHEN s.status_message IS NULL AND s.rpc_system IS NULL AND s.rpc_service IS NULL
                 AND s.rpc_method IS NULL AND s.db_system IS NULL AND s.db_statement IS NULL
                 AND s.db_query_id IS NULL AND s.peer_service IS NULL AND s.exception_type IS NULL
                 AND s.service IS NOT DISTINCT FROM r.service
                 AND s.version IS NOT DISTINCT FROM r.version
                 AND s.host IS NOT DISTINCT FROM r.host
            THEN NULL
            ELSE CAST(json_object(
                'service', CASE WHEN s.service IS DISTINCT FROM r.service THEN coalesce(s.service, '') END,
                'version', CASE WHEN s.version IS DISTINCT FROM r.version THEN coalesce(s.version, '') END,
                'host', CASE WHEN s.host IS DISTINCT FROM r.host THEN coalesce(s.host, '') END,
                'status_message', s.status_message,
                'rpc_system', s.rpc_system, 'rpc_service', s.rpc_service, 'rpc_method', s.rpc_method,
                'db_system', s.db_system, 'db_statement', s.db_statement, 'db_query_id', s.db_query_id,
                'peer_service', s.peer_service, 'exception_type', s.exception_type) AS VARCHAR)
       END,
       s.attrs
FROM spans s LEFT JOIN resources r ON r.id = s.resource_id
ORDER BY s.start_ns;

DROP TABLE spans;

CREATE VIEW spans AS
SELECT s.trace_id, s.span_id, s.parent_span_id, s.resource_id,
       CASE WHEN (s.extra->>'$.service') IS NOT NULL THEN nullif(s.extra->>'$.service', '') ELSE r.service END AS service,
       CASE WHEN (s.extra->>'$.version') IS NOT NULL THEN nullif(s.extra->>'$.version', '') ELSE r.version END AS version,
       CASE WHEN (s.extra->>'$.host') IS NOT NULL THEN nullif(s.extra->>'$.host', '') ELSE r.host END AS host,
       s.name, s.kind, s.status_code,
       s.extra->>'$.status_message' AS status_message,
       s.start_ns, s.end_ns, s.end_ns - s.start_ns AS duration_ns,
       s.thread_id, s.process_pid, s.http_route, s.http_method, s.http_status_code,
       s.extra->>'$.rpc_system' AS rpc_system,
       s.extra->>'$.rpc_service' AS rpc_service,
       s.extra->>'$.rpc_method' AS rpc_method,
       s.extra->>'$.db_system' AS db_system,
       s.extra->>'$.db_statement' AS db_statement,
       s.extra->>'$.db_query_id' AS db_query_id,
       s.extra->>'$.peer_service' AS peer_service,
       s.extra->>'$.exception_type' AS exception_type,
       s.attrs
FROM span_rows s LEFT JOIN resources r ON r.id = s.resource_id;

CREATE TABLE audit_rows (
    source VARCHAR NOT NULL,
    key    VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    count  BIGINT NOT NULL
);
INSERT INTO audit_rows SELECT source, key, action, count FROM audit;
DROP TABLE audit;
CREATE VIEW audit AS
SELECT source, key, action, CAST(sum(count) AS BIGINT) AS count
FROM audit_rows GROUP BY source, key, action;

-- A lock edge's optional columns are the smallest value its deltas set
-- (they normally agree); min, sum, min and max fold exactly, so folding the
-- deltas changes nothing the view shows.
CREATE TABLE lock_edge_rows (
    held           VARCHAR NOT NULL, -- id: edge:<held>><acquiring>
    acquiring      VARCHAR NOT NULL,
    node           VARCHAR,
    resource_id    VARCHAR,
    service        VARCHAR,
    pid            BIGINT,
    held_site      VARCHAR,
    acquiring_site VARCHAR,
    count          BIGINT NOT NULL,
    first_ns       BIGINT NOT NULL,
    last_ns        BIGINT NOT NULL
);
INSERT INTO lock_edge_rows SELECT * FROM lock_edges;
DROP TABLE lock_edges;
CREATE VIEW lock_edges AS
SELECT held, acquiring,
       min(node) AS node,
       min(resource_id) AS resource_id,
       min(service) AS service,
       min(pid) AS pid,
       min(held_site) AS held_site,
       min(acquiring_site) AS acquiring_site,
       CAST(sum(count) AS BIGINT) AS count, min(first_ns) AS first_ns, max(last_ns) AS last_ns
FROM lock_edge_rows GROUP BY held, acquiring;
