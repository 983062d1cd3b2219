-- 0011: settlement fixes found by review.
--
-- * A sponsor payment's reference is what the bank's confirmation carries: it must name one
--   payment, whoever sent it (two sponsors with the same reference made a confirmation clear
--   the wrong one).
-- * An invoice line says whether the sponsor is billed as the plan's sponsor (plan paid and the
--   admin fee) or only as a purse's funder, so `verify` can compare each with the claim.
-- * Amounts of sponsor payments and bank lines are bounded ($10 billion), so no sum of them
--   can leave bigint.

ALTER TABLE sponsor_receipt DROP CONSTRAINT sponsor_receipt_sponsor_id_reference_key;
ALTER TABLE sponsor_receipt ADD CONSTRAINT sponsor_receipt_reference UNIQUE (reference);
ALTER TABLE sponsor_receipt ADD CONSTRAINT sponsor_receipt_amount_max
    CHECK (amount_cents <= 1000000000000);
ALTER TABLE bank_line ADD CONSTRAINT bank_line_amount_max CHECK (amount_cents <= 1000000000000);

ALTER TABLE invoice_item DISABLE TRIGGER invoice_item_append_only;
ALTER TABLE invoice_item ADD COLUMN plan_sponsor boolean;
UPDATE invoice_item SET plan_sponsor = (plan_paid_cents <> 0 OR admin_fee_cents <> 0);
ALTER TABLE invoice_item ALTER COLUMN plan_sponsor SET NOT NULL;
ALTER TABLE invoice_item ENABLE TRIGGER invoice_item_append_only;
