"""The gateway's database role can append history but never rewrite it."""

from __future__ import annotations

import asyncpg
import pytest

from rx_gateway.bootstrap import App


async def test_gateway_runs_as_the_application_role_without_update_or_delete(app: App) -> None:
    """Permission is refused by grants (42501 'permission denied'), before any trigger runs."""
    async with app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "rx_gateway_app"
        for statement in (
            "UPDATE audit_log SET outcome = outcome",
            "DELETE FROM posting",
            "UPDATE claim SET response = response",
            "DELETE FROM claim_purse_spend",
            "TRUNCATE journal_entry",
            "UPDATE plan SET document = document",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(statement)
        # appending is allowed (the claim path's own audit insert)
        await conn.execute(
            "INSERT INTO audit_log (actor, action, outcome) VALUES ('test', 'probe', 'ok')"
        )
