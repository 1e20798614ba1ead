"""Settlement files: the gateway's hourly Parquet files, their enrichment and their reconciliation."""
