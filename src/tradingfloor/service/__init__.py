"""The sequencer loop, the event log that fans events out, and the wiring of a node."""
