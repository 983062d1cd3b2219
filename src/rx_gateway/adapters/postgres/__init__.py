"""PostgreSQL adapter: pool, embedded server, migrations, the claim store and data loading."""
