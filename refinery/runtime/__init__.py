"""Where and how a stage's shards run: the engine, the exchange of files, the shard runtime and its sizes."""
