//! Tool manifests, argument validation against OpenAPI/function schemas, tenant-scope enforcement and Cedar authorization; pure and synchronous.
