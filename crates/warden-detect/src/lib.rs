//! The runtime detector: Bedrock traces and egress evidence normalised, gap rules, verdict fusion; pure and synchronous.
