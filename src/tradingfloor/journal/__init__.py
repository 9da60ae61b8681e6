"""The durable journal of sequenced commands, snapshots of the engine, and recovery."""
