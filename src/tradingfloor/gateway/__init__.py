"""The edge clients talk to: authentication, rate limits, and (later) the HTTP app."""
