"""After adjudication: paying pharmacies (remittances), billing sponsors (invoices), and matching
the money that moved (reconciliation). Pure, like the rest of the domain: the adapters choose
which claims belong to a cycle; these modules decide what each cycle pays, bills and posts."""
