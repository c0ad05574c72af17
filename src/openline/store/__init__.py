"""Persistence: schema, migrations, repositories and the batching writer."""
