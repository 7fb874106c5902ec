"""Getting observations into the log: the BigQuery-shaped JSON Lines import and the index follower."""
