"""The settlement invariants `rx-gateway verify` checks (migration 0010 on): each is one query
returning the offending rows, like the ledger checks beside it."""

from __future__ import annotations

# A plan's pay schedule as Schedule.key spells it ("7D-SUN-3"), from its stored document.
PLAN_SCHEDULE = """
SELECT plan_id,
       coalesce(document->'pharmacy_payment'->>'period_days', '7') || 'D-'
       || upper(left(btrim(coalesce(document->'pharmacy_payment'->>'cutoff_weekday', 'sunday')),
                     3))
       || '-' || coalesce(document->'pharmacy_payment'->>'pay_after_days', '3') AS key
FROM plan
"""
# A claim whose transaction started this long before a cut-off has committed by the close (a
# claim's transaction is bounded by its deadline and the statement timeout: seconds).
LATE_COMMIT = "interval '10 minutes'"

SETTLEMENT_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "every settlement entry sums to zero",
        "SELECT 'settlement entry ' || entry_id || ' sums to ' || sum(amount_cents)"
        " FROM settlement_posting GROUP BY entry_id HAVING sum(amount_cents) <> 0",
    ),
    (
        "every claim and reversal received before its pay cycle closed is in one remittance",
        f"""
        WITH plan_schedule AS ({PLAN_SCHEDULE}),  -- constants only

        latest AS (SELECT schedule_key, max(cutoff_at) AS cutoff FROM pay_cycle GROUP BY 1)
        SELECT 'claim ' || c.internal_control_number || ' received before the ' || l.schedule_key
               || ' cut-off ' || l.cutoff || ' is in no remittance'
        FROM claim c JOIN plan_schedule ps ON ps.plan_id = c.plan_id
        JOIN latest l ON l.schedule_key = ps.key
        WHERE c.created_at < l.cutoff - {LATE_COMMIT} AND NOT EXISTS (
            SELECT 1 FROM remittance_item r WHERE r.family_id = c.family_id
            AND r.claim_id = c.claim_id AND r.kind = 'paid')
        UNION ALL
        SELECT 'reversal of ' || c.internal_control_number || ' is in no remittance'
        FROM claim_reversal cr
        JOIN claim c ON c.family_id = cr.family_id AND c.claim_id = cr.claim_id
        JOIN plan_schedule ps ON ps.plan_id = c.plan_id
        JOIN latest l ON l.schedule_key = ps.key
        WHERE cr.created_at < l.cutoff - {LATE_COMMIT} AND NOT EXISTS (
            SELECT 1 FROM remittance_item r WHERE r.family_id = cr.family_id
            AND r.claim_id = cr.claim_id AND r.kind = 'reversal')
        """,  # noqa: S608 - built from the constants above
    ),
    (
        "each remittance line is what its claim paid (509-F9, negative for a reversal)",
        "SELECT 'remittance line of claim ' || c.internal_control_number || ': '"
        " || r.paid_cents || ' vs ' || (c.response->'pricing'->>'total_amount_paid_cents')"
        " FROM remittance_item r"
        " JOIN claim c ON c.family_id = r.family_id AND c.claim_id = r.claim_id"
        " WHERE r.paid_cents <> (CASE r.kind WHEN 'paid' THEN 1 ELSE -1 END)"
        " * (c.response->'pricing'->>'total_amount_paid_cents')::bigint",
    ),
    (
        "each remittance equals the payable it cleared",
        """
        SELECT 'remittance ' || m.cycle_id || '/' || m.payee_id || ': claims '
               || m.claims_paid_cents || ', lines ' || coalesce(i.total, 0)
               || ', payable cleared ' || coalesce(-e.payable, 0)
        FROM remittance m
        LEFT JOIN (SELECT cycle_id, payee_id, sum(paid_cents) AS total FROM remittance_item
                   GROUP BY 1, 2) i ON i.cycle_id = m.cycle_id AND i.payee_id = m.payee_id
        LEFT JOIN (SELECT entry_id, sum(amount_cents) AS payable FROM settlement_posting
                   WHERE account_key LIKE 'pharmacy_payable:%' GROUP BY 1) e
               ON e.entry_id = m.entry_id
        WHERE m.claims_paid_cents <> coalesce(i.total, 0)
           OR m.claims_paid_cents <> coalesce(-e.payable, 0)
        """,
    ),
    (
        "each invoice equals the plan paid, purse spending and fees of its claims",
        """
        SELECT 'invoice ' || v.invoice_id || ': total ' || v.total_cents || ', lines '
               || coalesce(i.total, 0)
        FROM invoice v
        LEFT JOIN (SELECT invoice_id, sum(plan_paid_cents) AS plan,
                          sum(purse_paid_cents) AS purse, sum(admin_fee_cents) AS fees,
                          sum(plan_paid_cents + purse_paid_cents + admin_fee_cents) AS total
                   FROM invoice_item GROUP BY 1) i ON i.invoice_id = v.invoice_id
        LEFT JOIN (SELECT entry_id, sum(amount_cents) AS receivable FROM settlement_posting
                   WHERE account_key LIKE 'sponsor_receivable:%' GROUP BY 1) e
               ON e.entry_id = v.entry_id
        WHERE v.total_cents <> coalesce(i.total, 0) OR v.plan_paid_cents <> coalesce(i.plan, 0)
           OR v.purse_paid_cents <> coalesce(i.purse, 0) OR v.admin_fee_cents <> coalesce(i.fees, 0)
           OR v.total_cents <> coalesce(-e.receivable, 0)
        UNION ALL
        SELECT 'invoice line of claim ' || c.internal_control_number || ' to ' || i.sponsor_id
               || ': plan paid ' || i.plan_paid_cents || ', purse paid ' || i.purse_paid_cents
        FROM invoice_item i JOIN claim c ON c.family_id = i.family_id AND c.claim_id = i.claim_id
        WHERE i.plan_paid_cents <> CASE WHEN i.plan_sponsor
                  THEN (CASE i.kind WHEN 'paid' THEN 1 ELSE -1 END)
                       * (c.response->'pricing'->>'plan_paid_cents')::bigint
                  ELSE 0 END
           OR i.purse_paid_cents <> (CASE i.kind WHEN 'paid' THEN 1 ELSE -1 END) * coalesce((
                  SELECT sum(s.paid_cents) FROM claim_purse_spend s
                  JOIN purse p ON p.family_id = s.family_id AND p.purse_id = s.purse_id
                  WHERE s.family_id = i.family_id AND s.claim_id = i.claim_id
                    AND p.employer_id = i.sponsor_id), 0)
        """,
    ),
    (
        "each 835 says what its remittance pays, for its lines",
        r"""
        SELECT 'remittance ' || m.cycle_id || '/' || m.payee_id || ': BPR02 '
               || coalesce(substring(m.x12 from 'BPR\*[A-Z]\*([-0-9.]+)\*'), '?')
               || ', CLP ' || (length(m.x12) - length(replace(m.x12, '~' || chr(10) || 'CLP*', '')))
                              / length('~' || chr(10) || 'CLP*')
               || ' vs payment ' || m.payment_cents || ' on ' || m.line_count || ' lines'
        FROM remittance m
        WHERE round(coalesce(substring(m.x12 from 'BPR\*[A-Z]\*([-0-9.]+)\*')::numeric, -1)
                    * 100) <> m.payment_cents
           OR (length(m.x12) - length(replace(m.x12, '~' || chr(10) || 'CLP*', '')))
              / length('~' || chr(10) || 'CLP*') <> m.line_count
        """,
    ),
    (
        "each bank confirmation is for the amount it cleared",
        """
        SELECT 'bank match ' || b.direction || ' ' || b.trace || ': ' || b.amount_cents
               || ' vs ' || coalesce(m.payment_cents, r.amount_cents)
        FROM bank_match b
        LEFT JOIN remittance m ON b.kind = 'remittance' AND m.trace_number = b.trace
        LEFT JOIN sponsor_receipt r ON b.kind = 'receipt' AND r.reference = b.trace
        JOIN bank_line l ON l.file_digest = b.file_digest AND l.line_number = b.line_number
        WHERE b.amount_cents IS DISTINCT FROM coalesce(m.payment_cents, r.amount_cents)
           OR l.amount_cents <> b.amount_cents
        """,
    ),
    (
        "every employer and purse funder is a sponsor (nothing goes unbilled)",
        """
        SELECT DISTINCT 'employer ' || x.employer_id || ' is no sponsor'
        FROM (SELECT employer_id FROM family UNION SELECT employer_id FROM purse) x
        WHERE NOT EXISTS (SELECT 1 FROM sponsor s WHERE s.sponsor_id = x.employer_id)
        """,
    ),
    (
        "clearing accounts hold exactly what the bank has not confirmed",
        """
        SELECT 'remittance_clearing:' || x.payee_id || ' holds ' || x.balance || ', unconfirmed '
               || x.open
        FROM (SELECT m.payee_id,
                     coalesce((SELECT sum(amount_cents) FROM settlement_posting
                               WHERE account_key = 'remittance_clearing:' || m.payee_id), 0)
                         AS balance,
                     sum(m.payment_cents) FILTER (WHERE NOT EXISTS (
                         SELECT 1 FROM bank_match b WHERE b.direction = 'debit'
                         AND b.trace = m.trace_number)) AS open
              FROM remittance m GROUP BY m.payee_id) x
        WHERE x.balance <> coalesce(x.open, 0)
        UNION ALL
        SELECT 'receipt_clearing:' || x.sponsor_id || ' holds ' || x.balance || ', unconfirmed '
               || x.open
        FROM (SELECT s.sponsor_id,
                     coalesce((SELECT sum(amount_cents) FROM settlement_posting
                               WHERE account_key = 'receipt_clearing:' || s.sponsor_id), 0)
                         AS balance,
                     -coalesce(sum(s.amount_cents) FILTER (WHERE NOT EXISTS (
                         SELECT 1 FROM bank_match b WHERE b.direction = 'credit'
                         AND b.trace = s.reference)), 0) AS open
              FROM sponsor_receipt s GROUP BY s.sponsor_id) x
        WHERE x.balance <> x.open
        """,
    ),
)
