//! Verdict-only export: the closed export record, a bounded on-disk queue with retries, and the control-plane receiver.
