-- 003_findings: detector results, so that a report's citations of a
-- finding (finding:<hash>) and of the statistics it computed (cp:..., ks:...)
-- resolve later.
--
--   * findings holds one row per finding id: re-running a detector on the
--     same data yields the same id, and storing it again replaces the row.
--     refs is the cited evidence as a compact JSON array of {"id","line"}
--     objects in the detector's order, attrs the detector's numbers as a
--     JSON object (NULL when there are none). start_ns and end_ns bound the
--     data the finding was computed from (NULL when unknown).
--   * finding_refs repeats each cited id with its line, so that Get can find
--     the finding that reports a statistic (cp:, ks:) by the id it cites.

CREATE TABLE findings (
    id         VARCHAR PRIMARY KEY, -- finding:<hash>
    kind       VARCHAR NOT NULL,
    subject    VARCHAR NOT NULL,
    summary    VARCHAR NOT NULL,
    score      DOUBLE NOT NULL,
    confidence DOUBLE NOT NULL,
    start_ns   BIGINT,
    end_ns     BIGINT,
    refs       VARCHAR NOT NULL,
    attrs      VARCHAR
);

CREATE TABLE finding_refs (
    finding_id VARCHAR NOT NULL,
    idx        INTEGER NOT NULL,
    ref_id     VARCHAR NOT NULL,
    line       VARCHAR NOT NULL
);
