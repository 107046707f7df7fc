-- 001_init: the evidence tables.
--
-- Conventions:
--   * trace ids are UUID (16 bytes; compare with a hex string:
--     trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'; print with trace_hex()),
--     span ids UBIGINT (span_id = '0x00f067aa0ba902b7'::UBIGINT; print with
--     span_hex()). Integer ids append without a per-value cgo call and
--     compress and join better than hex text.
--   * an absent optional value is NULL, never '' or 0;
--   * times are unix nanoseconds (BIGINT);
--   * attrs holds the kept attributes that have no typed column as a compact
--     JSON object (attrs->>'$.key'); floats always carry a '.' or an
--     exponent so that ints and floats stay apart.

CREATE MACRO trace_hex(t) AS replace(CAST(t AS VARCHAR), '-', '');
CREATE MACRO span_hex(s) AS printf('%016x', s);

CREATE TABLE resources (
    id          VARCHAR NOT NULL, -- res:<hash>
    service     VARCHAR,
    version     VARCHAR,
    environment VARCHAR,
    host        VARCHAR,
    node        VARCHAR,
    attrs       VARCHAR
);

CREATE TABLE spans (
    trace_id         UUID NOT NULL,    -- id: span:<trace_hex>/<span_hex>
    span_id          UBIGINT NOT NULL,
    parent_span_id   UBIGINT,
    resource_id      VARCHAR,
    service          VARCHAR,
    version          VARCHAR,
    host             VARCHAR,
    name             VARCHAR,
    kind             TINYINT NOT NULL,
    status_code      TINYINT NOT NULL,
    status_message   VARCHAR,
    start_ns         BIGINT NOT NULL,
    end_ns           BIGINT NOT NULL,
    duration_ns      BIGINT NOT NULL,
    thread_id        BIGINT,
    process_pid      BIGINT,
    http_route       VARCHAR,
    http_method      VARCHAR,
    http_status_code BIGINT,
    rpc_system       VARCHAR,
    rpc_service      VARCHAR,
    rpc_method       VARCHAR,
    db_system        VARCHAR,
    db_statement     VARCHAR,
    db_query_id      VARCHAR,
    peer_service     VARCHAR,
    exception_type   VARCHAR,
    attrs            VARCHAR
);

CREATE TABLE span_events (
    trace_id UUID NOT NULL,    -- id: sev:<trace_hex>/<span_hex>/<idx>
    span_id  UBIGINT NOT NULL,
    idx      INTEGER NOT NULL,
    time_ns  BIGINT NOT NULL,
    name     VARCHAR,
    attrs    VARCHAR
);

CREATE TABLE kernel_events (
    node        VARCHAR NOT NULL,
    stream      VARCHAR NOT NULL,
    seq         UBIGINT NOT NULL, -- id: kev:<node>/<stream>/<seq>
    type        VARCHAR NOT NULL,
    resource_id VARCHAR,
    service     VARCHAR,
    time_ns     BIGINT NOT NULL,
    duration_ns BIGINT NOT NULL,
    pid         BIGINT,
    tid         BIGINT,
    cgroup_id   UBIGINT,
    trace_id    UUID,
    span_id     UBIGINT,
    addr        UBIGINT,
    waker_tid   BIGINT,
    value       BIGINT,
    attrs       VARCHAR
);

CREATE TABLE lock_edges (
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
    last_ns        BIGINT NOT NULL,
    PRIMARY KEY (held, acquiring)
);

CREATE TABLE logs (
    id            VARCHAR NOT NULL, -- log:<hash>
    resource_id   VARCHAR,
    service       VARCHAR,
    time_ns       BIGINT NOT NULL,
    severity      INTEGER NOT NULL,
    severity_text VARCHAR,
    event_name    VARCHAR,
    trace_id      UUID,
    span_id       UBIGINT,
    attrs         VARCHAR
);

CREATE TABLE audit (
    source VARCHAR NOT NULL,
    key    VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (source, key, action)
);
