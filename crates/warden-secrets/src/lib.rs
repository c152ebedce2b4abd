//! Per-tenant secret providers (env, file, AWS Secrets Manager) that feed tool handlers and nothing else.
