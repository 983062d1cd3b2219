-- 0023: every employer and purse funder is a sponsor.
--
-- Settlement bills a plan's cost to the member's employer (a plan's sponsor_id "employer")
-- and a purse's spending to its funder; `rx-gateway load` has made each of them a sponsor
-- with the default terms (weekly, in arrears, no fee) since settlement came (0010), and
-- `rx-gateway enroll` does for the employers it brings. A database loaded before then was
-- upgraded without them: `verify` failed ("employer ... is no sponsor") and `invoice` billed
-- nobody until a `load` was run again. The same insert, once, at the upgrade.
INSERT INTO sponsor (sponsor_id, name)
SELECT employer_id, employer_id FROM family
UNION
SELECT employer_id, employer_id FROM purse
ON CONFLICT (sponsor_id) DO NOTHING;
