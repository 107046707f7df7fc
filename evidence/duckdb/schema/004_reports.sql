-- 004_reports: investigation reports, so that MCP clients can list and read
-- them later (debugai://reports/<id>).
--
--   * one row per report id: writing the same id again replaces the row.
--     body is the report's JSON document, stored as text; status is the
--     hypothesis status it carries (accepted, rejected, unconfirmed).

CREATE TABLE reports (
    id         VARCHAR PRIMARY KEY,
    created_ns BIGINT NOT NULL,
    status     VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    body       VARCHAR NOT NULL
);
