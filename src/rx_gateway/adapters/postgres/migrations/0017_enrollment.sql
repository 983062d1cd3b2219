-- 0017: enrollment in (X12 834, issue 17).
--
-- enrollment_file: each 834 applied, once. The same business content (its digest) is never
-- applied twice, and a sender's interchange control number (ISA06, ISA13) names one file only:
-- a different file under a control number already used is refused. A reference table (like
-- settlement_file): an enrollment touches many families.
--
-- enrollment_review: claims already paid under coverage that a later 834 re-dated so that it
-- no longer covers their date of service. Listed for review (`rx-gateway enroll --report`),
-- never changed: a claim is reversed only by a reversal. Per family; append-only like the
-- rest of history. file_id has no foreign key: a per-family table's key to a reference table
-- would make Citus keep the table local (see citus.py CROSS_KEYS).
--
-- member.patient_relationship_code: 306-C6 as enrollment says it (INS02: 1 cardholder, 2
-- spouse, 3 child, 4 other); NULL for members loaded from members.csv.

CREATE TABLE enrollment_file (
    file_id                      bigserial PRIMARY KEY,
    content_sha256               text NOT NULL UNIQUE,
    name                         text NOT NULL,
    interchange_sender_id        text NOT NULL,
    interchange_control_number   text NOT NULL,
    transaction_control_numbers  text[] NOT NULL,
    sponsor_ids                  text[] NOT NULL,
    actor                        text NOT NULL,
    summary                      jsonb NOT NULL,
    applied_at                   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (interchange_sender_id, interchange_control_number)
);

CREATE TABLE enrollment_review (
    family_id              text NOT NULL,
    review_id              bigserial,
    file_id                bigint NOT NULL,
    claim_id               bigint NOT NULL,
    member_id              text NOT NULL,
    plan_id                text NOT NULL,
    date_of_service        date NOT NULL,
    coverage_start         date NOT NULL,   -- the span the claim was paid under, as it was
    coverage_end_before    date,
    coverage_end_after     date,            -- the span's end after the file (its start may move)
    flagged_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (family_id, review_id),
    CONSTRAINT enrollment_review_claim UNIQUE (family_id, claim_id),
    CONSTRAINT enrollment_review_claim_fkey
        FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id)
);
CREATE INDEX enrollment_review_file ON enrollment_review (file_id);

CREATE TRIGGER enrollment_file_append_only BEFORE UPDATE OR DELETE ON enrollment_file
    FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER enrollment_file_no_truncate BEFORE TRUNCATE ON enrollment_file
    FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER enrollment_review_append_only BEFORE UPDATE OR DELETE ON enrollment_review
    FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER enrollment_review_no_truncate BEFORE TRUNCATE ON enrollment_review
    FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();

ALTER TABLE member ADD COLUMN patient_relationship_code smallint
    CHECK (patient_relationship_code BETWEEN 0 AND 4);

-- The admin interface applies 834s (the Enroll call): it adds members, their directory rows,
-- families and their accounts, bumps the versions of the families it changes (a claim read
-- before the change is adjudicated again), and records the file and its review rows.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT, INSERT ON enrollment_file, enrollment_review TO rx_gateway_admin;
        GRANT INSERT, UPDATE ON family, member, member_key TO rx_gateway_admin;
        GRANT INSERT ON account, sponsor TO rx_gateway_admin;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rx_gateway_admin;
    END IF;
END $$;
