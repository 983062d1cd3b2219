-- The member read stays flat as history grows (issue 16): a member's fills in the read's
-- window came with two fields read out of each claim's stored response (the prescriber, the
-- 420-DK code that overrode a refill too soon), so every past claim cost a look into its
-- response document. They are columns now, computed once when the claim is written (stored
-- generated columns: the claim row stays append-only, nothing updates history).
ALTER TABLE claim
    ADD COLUMN prescriber_id text GENERATED ALWAYS AS (response->>'prescriber_id') STORED,
    ADD COLUMN refill_override text GENERATED ALWAYS AS (response->>'refill_override') STORED;
