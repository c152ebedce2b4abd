//! Turns `warden.toml` text into a validated [`Config`], collecting every problem at once.

use crate::file::*;
use crate::model::*;
use crate::{ConfigError, ConfigProblem, CONFIG_VERSION};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warden_core::{AgentId, Sensitive, TenantId};
use warden_guard::GuardrailSpec;

/// Where `secret_env` / `token_env` values come from. Tests inject a map; the binary reads
/// the process environment.
pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&abs).map_err(|e| ConfigError {
        problems: vec![ConfigProblem {
            file: abs.clone(),
            key: String::new(),
            message: format!("cannot read config file: {e}"),
        }],
    })?;
    load_str(&text, &abs, env)
}

/// Validates config text as if it had been read from `path` (used for messages and as the
/// base of relative paths).
pub fn load_str(text: &str, path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigError> {
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cx = Cx {
        file: path.to_path_buf(),
        base,
        env,
        problems: Vec::new(),
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let msg = e.message().to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            cx.err("", format!("invalid TOML{at}: {msg}"));
            return Err(cx.finish_err());
        }
    };
    let config = cx.build(table);
    match config {
        Some(c) if cx.problems.is_empty() => Ok(c),
        _ => Err(cx.finish_err()),
    }
}

struct Cx<'a> {
    file: PathBuf,
    base: PathBuf,
    env: &'a dyn EnvSource,
    problems: Vec<ConfigProblem>,
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty() || rest == ".") {
        (_, true) => prefix.to_string(),
        (true, false) => rest.to_string(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

impl Cx<'_> {
    fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        });
    }

    fn finish_err(&mut self) -> ConfigError {
        ConfigError {
            problems: std::mem::take(&mut self.problems),
        }
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Deserializes one value, recording the exact key path of the first problem in it.
    fn de<T: DeserializeOwned>(&mut self, key: &str, value: toml::Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = e.path().to_string();
                let msg = e.into_inner().message().to_string();
                self.err(join(key, &inner), msg);
                None
            }
        }
    }

    fn section<T: DeserializeOwned + Default>(
        &mut self,
        table: &mut toml::Table,
        key: &str,
    ) -> Option<T> {
        match table.remove(key) {
            None => Some(T::default()),
            Some(v) => self.de(key, v),
        }
    }

    fn named_tables(&mut self, table: &mut toml::Table, key: &str) -> Vec<(String, toml::Value)> {
        match table.remove(key) {
            None => Vec::new(),
            Some(toml::Value::Table(t)) => t.into_iter().collect(),
            Some(other) => {
                self.err(key, format!("expected a table, found {}", other.type_str()));
                Vec::new()
            }
        }
    }

    /// Resolves a secret given inline, by environment variable or by file; exactly one.
    fn secret(
        &mut self,
        key: &str,
        names: [&str; 3],
        inline: Option<String>,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<Sensitive<String>> {
        let given = [inline.is_some(), env.is_some(), file.is_some()];
        let count = given.iter().filter(|g| **g).count();
        if count != 1 {
            self.err(
                key,
                format!(
                    "exactly one of `{}`, `{}`, `{}` is required ({} given)",
                    names[0], names[1], names[2], count
                ),
            );
            return None;
        }
        if let Some(v) = inline {
            return Some(Sensitive::new(v));
        }
        if let Some(var) = env {
            return match self.env.var(&var) {
                Some(v) if !v.is_empty() => Some(Sensitive::new(v)),
                _ => {
                    self.err(
                        join(key, names[1]),
                        format!("environment variable `{var}` is not set or empty"),
                    );
                    None
                }
            };
        }
        let file = file?;
        let full = self.path(&file);
        match std::fs::read_to_string(&full) {
            Ok(v) => {
                let v = v.trim_end_matches(['\n', '\r']).to_string();
                if v.is_empty() {
                    self.err(
                        join(key, names[2]),
                        format!("secret file `{}` is empty", full.display()),
                    );
                    None
                } else {
                    Some(Sensitive::new(v))
                }
            }
            Err(e) => {
                self.err(
                    join(key, names[2]),
                    format!("cannot read `{}`: {e}", full.display()),
                );
                None
            }
        }
    }

    fn addr(&mut self, key: &str, value: Option<String>, default: &str) -> Option<SocketAddr> {
        let value = value.unwrap_or_else(|| default.to_string());
        match value.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(key, format!("`{value}` is not an `ip:port` socket address"));
                None
            }
        }
    }

    fn build(&mut self, mut table: toml::Table) -> Option<Config> {
        match table.remove("version") {
            None => self.err(
                "version",
                format!("missing; this build reads `version = {CONFIG_VERSION}`"),
            ),
            Some(toml::Value::Integer(CONFIG_VERSION)) => {}
            Some(other) => self.err(
                "version",
                format!(
                    "unsupported version `{other}`; this build reads `version = {CONFIG_VERSION}`"
                ),
            ),
        }
        let server: Option<ServerFile> = self.section(&mut table, "server");
        let auth: Option<AuthFile> = self.section(&mut table, "auth");
        let admin: Option<AdminFile> = self.section(&mut table, "admin");
        let limits: Option<LimitsFile> = self.section(&mut table, "limits");
        let ratelimit: Option<RateLimitFile> = self.section(&mut table, "ratelimit");
        let guardrail_tables = self.named_tables(&mut table, "guardrails");
        let agent_tables = self.named_tables(&mut table, "agents");
        let tool_tables = self.named_tables(&mut table, "tools");
        let secrets: Option<SecretsFile> = self.section(&mut table, "secrets");
        let sandbox: Option<SandboxFile> = self.section(&mut table, "sandbox");
        let detector: Option<DetectorFile> = self.section(&mut table, "detector");
        let judge: Option<JudgeFile> = self.section(&mut table, "judge");
        let audit: Option<AuditFile> = self.section(&mut table, "audit");
        let export: Option<ExportFile> = self.section(&mut table, "export");
        for key in table.keys() {
            self.err(
                key.clone(),
                "unknown key; expected one of version, server, auth, admin, limits, ratelimit, \
                 guardrails, agents, tools, secrets, sandbox, detector, judge, audit, export",
            );
        }

        let server = server.and_then(|s| self.server(s));
        let auth = auth.and_then(|a| self.auth(a));
        let admin = admin.and_then(|a| self.admin(a));
        let limits = limits.and_then(|l| self.limits(l));
        let ratelimit = ratelimit.and_then(|r| self.ratelimit(r));
        let guardrails = self.guardrails(guardrail_tables);
        let tools = self.tools(tool_tables);
        let agents = self.agents(agent_tables, &guardrails, &tools);
        let secrets = secrets.and_then(|s| self.secrets(s));
        let sandbox = sandbox.and_then(|s| self.sandbox(s));
        let detector = detector.map(|d| DetectorConfig {
            mode: enforce_mode(d.mode),
        });
        let judge = judge.and_then(|j| self.judge(j));
        let export = export.and_then(|e| self.export(e));
        let server = server?;
        let audit = audit.map(|a| AuditConfig {
            durability: match a.durability {
                Some(DurabilityFile::Batch) => Durability::Batch,
                _ => Durability::Fsync,
            },
            dir: a
                .dir
                .map(|d| self.path(&d))
                .unwrap_or_else(|| server.data_dir.join("audit")),
            segment_bytes: a.segment_bytes.unwrap_or(64 * 1024 * 1024).max(4096),
        });
        Some(Config {
            path: self.file.clone(),
            base_dir: self.base.clone(),
            server,
            auth: auth?,
            admin: admin?,
            limits: limits?,
            ratelimit: ratelimit?,
            guardrails,
            agents,
            tools,
            secrets: secrets?,
            sandbox: sandbox?,
            detector: detector?,
            judge: judge?,
            audit: audit?,
            export: export?,
        })
    }

    fn server(&mut self, s: ServerFile) -> Option<ServerConfig> {
        let listen = self.addr("server.listen", s.listen, "127.0.0.1:8080");
        let admin_listen = self.addr("server.admin_listen", s.admin_listen, "127.0.0.1:8081");
        if let (Some(a), Some(b)) = (listen, admin_listen) {
            if a == b && a.port() != 0 {
                self.err(
                    "server.admin_listen",
                    "must differ from `server.listen`: the admin listener is separate",
                );
            }
        }
        if s.worker_threads == Some(0) {
            self.err("server.worker_threads", "must be at least 1");
        }
        Some(ServerConfig {
            listen: listen?,
            admin_listen: admin_listen?,
            data_dir: self.path(&s.data_dir.unwrap_or_else(|| PathBuf::from("warden-data"))),
            shutdown_grace_ms: s.shutdown_grace_ms.unwrap_or(10_000),
            worker_threads: s.worker_threads,
        })
    }

    fn auth(&mut self, a: AuthFile) -> Option<AuthConfig> {
        let mut keys = Vec::new();
        for (i, k) in a.keys.into_iter().enumerate() {
            let key = format!("auth.keys[{i}]");
            if let Some(source) = self.key(&key, k) {
                keys.push(source);
            }
        }
        let mut aws_keys = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, k) in a.aws_keys.into_iter().enumerate() {
            let key = format!("auth.aws_keys[{i}]");
            let id_ok = (16..=128).contains(&k.access_key_id.len())
                && k.access_key_id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !id_ok {
                self.err(
                    format!("{key}.access_key_id"),
                    "must be 16 to 128 characters of A-Z and 0-9",
                );
            } else if !seen.insert(k.access_key_id.clone()) {
                self.err(
                    format!("{key}.access_key_id"),
                    format!("`{}` is configured twice", k.access_key_id),
                );
            }
            let tenant = match TenantId::new(k.tenant) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.err(format!("{key}.tenant"), e.to_string());
                    None
                }
            };
            let secret = self.secret(
                &key,
                ["secret", "secret_env", "secret_file"],
                k.secret,
                k.secret_env,
                k.secret_file,
            );
            if let (true, Some(tenant), Some(secret)) = (id_ok, tenant, secret) {
                aws_keys.push(AwsKey {
                    access_key_id: k.access_key_id,
                    secret,
                    tenant,
                });
            }
        }
        if keys.is_empty()
            && aws_keys.is_empty()
            && !self.problems.iter().any(|p| p.key.starts_with("auth."))
        {
            self.err(
                "auth",
                "no credentials configured: add at least one [[auth.keys]] or [[auth.aws_keys]]",
            );
        }
        let leeway_secs = a.leeway_secs.unwrap_or(60);
        if leeway_secs > 600 {
            self.err(
                "auth.leeway_secs",
                "must be at most 600 (ten minutes of clock skew)",
            );
        }
        let max_token_bytes = a.max_token_bytes.unwrap_or(8192);
        if !(256..=65536).contains(&max_token_bytes) {
            self.err("auth.max_token_bytes", "must be between 256 and 65536");
        }
        let tenant_claim = a.tenant_claim.unwrap_or_else(|| "tenant_id".into());
        if tenant_claim.is_empty() {
            self.err("auth.tenant_claim", "must not be empty");
        }
        Some(AuthConfig {
            tenant_claim,
            subject_claim: a.subject_claim.unwrap_or_else(|| "sub".into()),
            issuer: a.issuer,
            audience: a.audience,
            leeway_secs,
            max_token_bytes,
            jwks_refresh_secs: a.jwks_refresh_secs.unwrap_or(300).max(5),
            keys,
            aws_keys,
        })
    }

    fn key(&mut self, key: &str, k: KeyFile) -> Option<KeySource> {
        let kid = k.kid.clone();
        let unexpected = |fields: &[(&str, bool)]| -> Vec<String> {
            fields
                .iter()
                .filter(|(_, set)| *set)
                .map(|(n, _)| format!("`{n}`"))
                .collect()
        };
        match k.kind {
            KeyKindFile::Hs256 => {
                let extra = unexpected(&[
                    ("public_key", k.public_key.is_some()),
                    ("public_key_file", k.public_key_file.is_some()),
                    ("jwks_path", k.jwks_path.is_some()),
                    ("jwks_url", k.jwks_url.is_some()),
                ]);
                if !extra.is_empty() {
                    self.err(
                        key,
                        format!("{} not allowed for kind `hs256`", extra.join(", ")),
                    );
                }
                let secret = self.secret(
                    key,
                    ["secret", "secret_env", "secret_file"],
                    k.secret,
                    k.secret_env,
                    k.secret_file,
                )?;
                if secret.expose().len() < 32 {
                    self.err(key, "HS256 secret must be at least 32 bytes");
                    return None;
                }
                Some(KeySource::Hs256 {
                    kid,
                    secret: Sensitive::new(secret.expose().as_bytes().to_vec()),
                })
            }
            KeyKindFile::Rs256 | KeyKindFile::Es256 | KeyKindFile::Eddsa => {
                let alg = match k.kind {
                    KeyKindFile::Rs256 => PublicKeyAlg::Rs256,
                    KeyKindFile::Es256 => PublicKeyAlg::Es256,
                    _ => PublicKeyAlg::EdDsa,
                };
                let extra = unexpected(&[
                    ("secret", k.secret.is_some()),
                    ("secret_env", k.secret_env.is_some()),
                    ("secret_file", k.secret_file.is_some()),
                    ("jwks_path", k.jwks_path.is_some()),
                    ("jwks_url", k.jwks_url.is_some()),
                ]);
                if !extra.is_empty() {
                    self.err(
                        key,
                        format!("{} not allowed for a public-key kind", extra.join(", ")),
                    );
                }
                match (k.public_key, k.public_key_file) {
                    (Some(pem), None) => Some(KeySource::PublicKey {
                        kid,
                        alg,
                        pem: pem.into_bytes(),
                        origin: format!("{key}.public_key"),
                    }),
                    (None, Some(file)) => {
                        let full = self.path(&file);
                        match std::fs::read(&full) {
                            Ok(pem) => Some(KeySource::PublicKey {
                                kid,
                                alg,
                                pem,
                                origin: full.display().to_string(),
                            }),
                            Err(e) => {
                                self.err(
                                    format!("{key}.public_key_file"),
                                    format!("cannot read `{}`: {e}", full.display()),
                                );
                                None
                            }
                        }
                    }
                    _ => {
                        self.err(
                            key,
                            "exactly one of `public_key`, `public_key_file` is required",
                        );
                        None
                    }
                }
            }
            KeyKindFile::Jwks => {
                if k.kid.is_some() {
                    self.err(
                        format!("{key}.kid"),
                        "not allowed for kind `jwks`: kids come from the key set",
                    );
                }
                match (k.jwks_path, k.jwks_url) {
                    (Some(p), None) => {
                        let full = self.path(&p);
                        if !full.is_file() {
                            self.err(
                                format!("{key}.jwks_path"),
                                format!("`{}` does not exist", full.display()),
                            );
                            return None;
                        }
                        Some(KeySource::JwksFile { path: full })
                    }
                    (None, Some(url)) => {
                        if !(url.starts_with("https://") || url.starts_with("http://")) {
                            self.err(format!("{key}.jwks_url"), "must be an http(s) URL");
                            return None;
                        }
                        Some(KeySource::JwksUrl { url })
                    }
                    _ => {
                        self.err(key, "exactly one of `jwks_path`, `jwks_url` is required");
                        None
                    }
                }
            }
        }
    }

    fn admin(&mut self, a: AdminFile) -> Option<AdminConfig> {
        let token = self.secret(
            "admin",
            ["token", "token_env", "token_file"],
            a.token,
            a.token_env,
            a.token_file,
        )?;
        if token.expose().len() < 16 {
            self.err("admin", "the admin token must be at least 16 characters");
            return None;
        }
        Some(AdminConfig { token })
    }

    fn limits(&mut self, l: LimitsFile) -> Option<LimitsConfig> {
        let c = LimitsConfig {
            max_body_bytes: l.max_body_bytes.unwrap_or(262_144),
            max_input_chars: l.max_input_chars.unwrap_or(20_000),
            max_header_bytes: l.max_header_bytes.unwrap_or(16_384),
            request_timeout_ms: l.request_timeout_ms.unwrap_or(30_000),
        };
        if !(1024..=64 * 1024 * 1024).contains(&c.max_body_bytes) {
            self.err("limits.max_body_bytes", "must be between 1024 and 67108864");
        }
        if c.max_input_chars == 0 {
            self.err("limits.max_input_chars", "must be at least 1");
        }
        if !(1024..=1024 * 1024).contains(&c.max_header_bytes) {
            self.err(
                "limits.max_header_bytes",
                "must be between 1024 and 1048576",
            );
        }
        if c.request_timeout_ms < 100 {
            self.err("limits.request_timeout_ms", "must be at least 100");
        }
        Some(c)
    }

    fn rate(&mut self, key: &str, rpm: u32, burst: u32, tpm: u64) -> RateLimit {
        if rpm == 0 {
            self.err(format!("{key}requests_per_minute"), "must be at least 1");
        }
        if burst == 0 {
            self.err(format!("{key}burst"), "must be at least 1");
        }
        if tpm == 0 {
            self.err(format!("{key}tokens_per_minute"), "must be at least 1");
        }
        RateLimit {
            requests_per_minute: rpm,
            burst,
            tokens_per_minute: tpm,
        }
    }

    fn ratelimit(&mut self, r: RateLimitFile) -> Option<RateLimitConfig> {
        let default = self.rate(
            "ratelimit.",
            r.requests_per_minute.unwrap_or(600),
            r.burst.unwrap_or(50),
            r.tokens_per_minute.unwrap_or(200_000),
        );
        let mut tenants = BTreeMap::new();
        for (name, value) in r.tenants {
            let key = format!("ratelimit.tenants.{name}");
            let tenant = match TenantId::new(name.clone()) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.err(key.clone(), e.to_string());
                    None
                }
            };
            let Some(o) = self.de::<RateOverrideFile>(&key, value) else {
                continue;
            };
            let limit = self.rate(
                &format!("{key}."),
                o.requests_per_minute.unwrap_or(default.requests_per_minute),
                o.burst.unwrap_or(default.burst),
                o.tokens_per_minute.unwrap_or(default.tokens_per_minute),
            );
            if let Some(t) = tenant {
                tenants.insert(t, limit);
            }
        }
        Some(RateLimitConfig { default, tenants })
    }

    fn guardrails(
        &mut self,
        tables: Vec<(String, toml::Value)>,
    ) -> BTreeMap<String, GuardrailConfig> {
        let mut out = BTreeMap::new();
        for (name, value) in tables {
            let key = format!("guardrails.{name}");
            if AgentId::new(name.clone()).is_err() {
                self.err(key.clone(), "guardrail names use A-Za-z0-9._:- only");
                continue;
            }
            let Some(spec) = self.de::<GuardrailSpec>(&key, value) else {
                continue;
            };
            match warden_guard::Guardrail::compile(&name, &spec) {
                Ok(compiled) => {
                    out.insert(
                        name,
                        GuardrailConfig {
                            spec,
                            compiled: Arc::new(compiled),
                        },
                    );
                }
                Err(e) => {
                    for p in e.problems {
                        self.err(join(&key, &p.path), p.message);
                    }
                }
            }
        }
        out
    }

    fn tools(&mut self, tables: Vec<(String, toml::Value)>) -> BTreeMap<String, ToolConfig> {
        let mut out = BTreeMap::new();
        for (name, value) in tables {
            let key = format!("tools.{name}");
            if AgentId::new(name.clone()).is_err() {
                self.err(key.clone(), "tool names use A-Za-z0-9._:- only");
                continue;
            }
            let Some(t) = self.de::<ToolFile>(&key, value) else {
                continue;
            };
            let before = self.problems.len();
            let schema = match (t.schema, t.functions) {
                (Some(s), None) => Some(ToolSchema::OpenApi(self.path(&s))),
                (None, Some(f)) => Some(ToolSchema::Functions(self.path(&f))),
                _ => {
                    self.err(
                        key.clone(),
                        "exactly one of `schema` (OpenAPI) or `functions` is required",
                    );
                    None
                }
            };
            if let Some(ToolSchema::OpenApi(p) | ToolSchema::Functions(p)) = &schema {
                if !p.is_file() {
                    let field = if matches!(schema, Some(ToolSchema::OpenApi(_))) {
                        "schema"
                    } else {
                        "functions"
                    };
                    self.err(
                        format!("{key}.{field}"),
                        format!("`{}` does not exist", p.display()),
                    );
                }
            }
            let execution = match t.execution {
                Some(ExecutionFile::ReturnControl) => Execution::ReturnControl,
                _ => Execution::Sandbox,
            };
            if execution == Execution::Sandbox && t.handler.is_empty() {
                self.err(
                    format!("{key}.handler"),
                    "required unless `execution = \"return_control\"`: the command that runs the handler",
                );
            }
            let workdir = self.path(&t.workdir.unwrap_or_else(|| PathBuf::from(".")));
            if execution == Execution::Sandbox && !workdir.is_dir() {
                self.err(
                    format!("{key}.workdir"),
                    format!("`{}` is not a directory", workdir.display()),
                );
            }
            let mut egress = Vec::new();
            for (i, e) in t.egress.iter().enumerate() {
                match parse_egress(e) {
                    Ok(rule) => egress.push(rule),
                    Err(msg) => self.err(format!("{key}.egress[{i}]"), msg),
                }
            }
            for (i, s) in t.secrets.iter().enumerate() {
                let ok = !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                    && !s.as_bytes()[0].is_ascii_digit();
                if !ok {
                    self.err(
                        format!("{key}.secrets[{i}]"),
                        format!("`{s}` is not an environment variable name ([A-Z_][A-Z0-9_]*)"),
                    );
                }
            }
            let timeout_ms = t.timeout_ms.unwrap_or(5_000);
            if !(1..=900_000).contains(&timeout_ms) {
                self.err(format!("{key}.timeout_ms"), "must be between 1 and 900000");
            }
            let memory_mb = t.memory_mb.unwrap_or(256);
            if !(16..=65_536).contains(&memory_mb) {
                self.err(format!("{key}.memory_mb"), "must be between 16 and 65536");
            }
            let cpu_percent = t.cpu_percent.unwrap_or(100);
            if !(1..=1600).contains(&cpu_percent) {
                self.err(format!("{key}.cpu_percent"), "must be between 1 and 1600");
            }
            let pids_max = t.pids_max.unwrap_or(64);
            if pids_max == 0 {
                self.err(format!("{key}.pids_max"), "must be at least 1");
            }
            if self.problems.len() != before {
                continue;
            }
            let Some(schema) = schema else { continue };
            out.insert(
                name.clone(),
                ToolConfig {
                    name,
                    description: t.description,
                    schema,
                    handler: t.handler,
                    workdir,
                    egress,
                    secrets: t.secrets,
                    timeout_ms,
                    effects: t.effects.map(|e| match e {
                        EffectsFile::Read => Effects::Read,
                        EffectsFile::Write => Effects::Write,
                    }),
                    execution,
                    tenant_scope: match t.tenant_scope {
                        Some(TenantScopeFile::Override) => TenantScopeAction::Override,
                        _ => TenantScopeAction::Reject,
                    },
                    memory_mb,
                    cpu_percent,
                    pids_max,
                },
            );
        }
        out
    }

    fn agents(
        &mut self,
        tables: Vec<(String, toml::Value)>,
        guardrails: &BTreeMap<String, GuardrailConfig>,
        tools: &BTreeMap<String, ToolConfig>,
    ) -> BTreeMap<AgentId, AgentConfig> {
        let mut out = BTreeMap::new();
        for (name, value) in tables {
            let key = format!("agents.{name}");
            let id = match AgentId::new(name.clone()) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.err(key.clone(), e.to_string());
                    None
                }
            };
            let Some(a) = self.de::<AgentFile>(&key, value) else {
                continue;
            };
            let before = self.problems.len();
            if a.instructions.trim().is_empty() {
                self.err(format!("{key}.instructions"), "must not be empty");
            }
            if let Some(g) = &a.guardrail {
                if !guardrails.contains_key(g)
                    && !self
                        .problems
                        .iter()
                        .any(|p| p.key.starts_with(&format!("guardrails.{g}")))
                {
                    self.err(
                        format!("{key}.guardrail"),
                        format!("no guardrail `{g}` is defined in [guardrails]"),
                    );
                }
            }
            for (i, ag) in a.action_groups.iter().enumerate() {
                if !tools.contains_key(ag)
                    && !self
                        .problems
                        .iter()
                        .any(|p| p.key.starts_with(&format!("tools.{ag}")))
                {
                    self.err(
                        format!("{key}.action_groups[{i}]"),
                        format!("no tool `{ag}` is defined in [tools]"),
                    );
                }
            }
            let max_steps = a.max_steps.unwrap_or(8);
            if !(1..=64).contains(&max_steps) {
                self.err(format!("{key}.max_steps"), "must be between 1 and 64");
            }
            let model = self.model(&format!("{key}.model"), a.model);
            if self.problems.len() != before {
                continue;
            }
            let (Some(id), Some(model)) = (id, model) else {
                continue;
            };
            out.insert(
                id.clone(),
                AgentConfig {
                    id,
                    instructions: a.instructions,
                    description: a.description,
                    guardrail: a.guardrail,
                    action_groups: a.action_groups,
                    max_steps,
                    memory_window: a.memory_window.unwrap_or(20),
                    session_idle_secs: a.session_idle_secs.unwrap_or(3600),
                    model,
                },
            );
        }
        out
    }

    fn model(&mut self, key: &str, m: ModelFile) -> Option<ModelConfig> {
        let timeout_ms = m.timeout_ms.unwrap_or(30_000);
        let max_tokens = m.max_tokens.unwrap_or(1024);
        let need = |cx: &mut Self, field: &str, v: Option<String>, provider: &str| {
            if v.is_none() {
                cx.err(
                    format!("{key}.{field}"),
                    format!("required for provider `{provider}`"),
                );
            }
            v
        };
        if m.prompt_cache.is_some() && m.provider != ProviderFile::Bedrock {
            self.err(
                format!("{key}.prompt_cache"),
                "only for provider `bedrock` (Converse cache points); other providers cache prompts on their own or not at all",
            );
        }
        match m.provider {
            ProviderFile::Scripted => {
                let Some(script) = m.script else {
                    self.err(format!("{key}.script"), "required for provider `scripted`");
                    return None;
                };
                let full = self.path(&script);
                if !full.is_file() {
                    self.err(
                        format!("{key}.script"),
                        format!("`{}` does not exist", full.display()),
                    );
                    return None;
                }
                Some(ModelConfig::Scripted { script: full })
            }
            ProviderFile::Bedrock => {
                let model_id = need(self, "model_id", m.model_id, "bedrock")?;
                Some(ModelConfig::Bedrock {
                    model_id,
                    region: m.region,
                    guardrail_identifier: m.guardrail_identifier,
                    guardrail_version: m.guardrail_version,
                    timeout_ms,
                    max_tokens,
                    prompt_cache: m.prompt_cache.unwrap_or(false),
                })
            }
            ProviderFile::Openai => {
                let base_url = need(self, "base_url", m.base_url, "openai");
                let model = need(self, "model", m.model, "openai");
                Some(ModelConfig::OpenAi {
                    base_url: base_url?,
                    model: model?,
                    api_key_env: m.api_key_env,
                    timeout_ms,
                    max_tokens,
                })
            }
            ProviderFile::BedrockAgent => {
                let agent_id = need(self, "agent_id", m.agent_id, "bedrock-agent");
                let alias = need(self, "agent_alias_id", m.agent_alias_id, "bedrock-agent");
                Some(ModelConfig::BedrockAgent {
                    agent_id: agent_id?,
                    agent_alias_id: alias?,
                    region: m.region,
                    timeout_ms,
                })
            }
        }
    }

    fn secrets(&mut self, s: SecretsFile) -> Option<SecretsConfig> {
        Some(match s.provider {
            None => SecretsConfig::None,
            Some(SecretsProviderFile::Env) => SecretsConfig::Env {
                prefix: s.env_prefix.unwrap_or_else(|| "WARDEN_SECRET_".into()),
            },
            Some(SecretsProviderFile::File) => {
                let Some(p) = s.path else {
                    self.err("secrets.path", "required for provider `file`");
                    return None;
                };
                let full = self.path(&p);
                if !full.is_file() {
                    self.err(
                        "secrets.path",
                        format!("`{}` does not exist", full.display()),
                    );
                    return None;
                }
                SecretsConfig::File { path: full }
            }
            Some(SecretsProviderFile::Aws) => SecretsConfig::Aws { region: s.region },
        })
    }

    fn sandbox(&mut self, s: SandboxFile) -> Option<SandboxConfig> {
        let mut hosts = BTreeMap::new();
        for (name, target) in s.hosts {
            match target.parse::<SocketAddr>() {
                Ok(a) => {
                    hosts.insert(name.to_ascii_lowercase(), a);
                }
                Err(_) => self.err(
                    format!("sandbox.hosts.\"{name}\""),
                    format!("`{target}` is not an `ip:port` address"),
                ),
            }
        }
        let pool_size = s.pool_size.unwrap_or(4);
        if !(1..=256).contains(&pool_size) {
            self.err("sandbox.pool_size", "must be between 1 and 256");
        }
        let user = s.user.unwrap_or_else(|| "nobody".into());
        if user.is_empty() || user == "root" {
            self.err(
                "sandbox.user",
                "must name an unprivileged user (handlers never run as root)",
            );
        }
        let cell_prefix = s.cell_prefix.unwrap_or_else(|| "wdn".into());
        if !(1..=8).contains(&cell_prefix.len())
            || !cell_prefix.bytes().all(|b| b.is_ascii_lowercase())
        {
            self.err(
                "sandbox.cell_prefix",
                format!("`{cell_prefix}` must be 1 to 8 lowercase ASCII letters"),
            );
        }
        let cell_subnet = s.cell_subnet.unwrap_or_else(|| "10.201.0.0/16".into());
        match cell_subnet.split_once('/') {
            Some((ip, len))
                if ip.parse::<std::net::Ipv4Addr>().is_ok()
                    && len.parse::<u8>().is_ok_and(|l| (8..=28).contains(&l)) => {}
            _ => self.err(
                "sandbox.cell_subnet",
                format!(
                    "`{cell_subnet}` is not an IPv4 network with a prefix length between 8 and 28"
                ),
            ),
        }
        Some(SandboxConfig {
            mode: match s.mode {
                Some(SandboxModeFile::Cooperative) => SandboxMode::Cooperative,
                _ => SandboxMode::Isolated,
            },
            pool_size,
            egress_mode: enforce_mode(s.egress_mode),
            hosts,
            user,
            cell_prefix,
            cell_subnet,
        })
    }

    fn judge(&mut self, j: JudgeFile) -> Option<JudgeConfig> {
        let timeout_ms = j.timeout_ms.unwrap_or(10_000);
        let max_tokens = j.max_tokens.unwrap_or(512);
        let on_failure = match j.on_failure {
            Some(JudgeFailureFile::Warn) => JudgeFailure::Warn,
            Some(JudgeFailureFile::Block) => JudgeFailure::Block,
            _ => JudgeFailure::RulesDecide,
        };
        Some(match j.provider {
            None | Some(JudgeProviderFile::None) => JudgeConfig::None,
            Some(JudgeProviderFile::Bedrock) => {
                let Some(model_id) = j.model_id else {
                    self.err("judge.model_id", "required for provider `bedrock`");
                    return None;
                };
                JudgeConfig::Bedrock {
                    model_id,
                    region: j.region,
                    timeout_ms,
                    max_tokens,
                    on_failure,
                }
            }
            Some(JudgeProviderFile::Openai) => {
                if j.base_url.is_none() {
                    self.err("judge.base_url", "required for provider `openai`");
                }
                if j.model.is_none() {
                    self.err("judge.model", "required for provider `openai`");
                }
                JudgeConfig::OpenAi {
                    base_url: j.base_url?,
                    model: j.model?,
                    api_key_env: j.api_key_env,
                    timeout_ms,
                    max_tokens,
                    on_failure,
                }
            }
        })
    }

    fn export(&mut self, e: ExportFile) -> Option<ExportConfig> {
        if let Some(url) = &e.control_plane_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.err("export.control_plane_url", "must be an http(s) URL");
                return None;
            }
        }
        Some(ExportConfig {
            control_plane_url: e.control_plane_url,
            token_env: e.token_env,
            queue_max_bytes: e.queue_max_bytes.unwrap_or(64 * 1024 * 1024),
        })
    }
}

fn enforce_mode(m: Option<EnforceModeFile>) -> EnforceMode {
    match m {
        Some(EnforceModeFile::Report) => EnforceMode::Report,
        _ => EnforceMode::Enforce,
    }
}

/// Parses `host[:port]` where host may start with `*.`.
fn parse_egress(s: &str) -> Result<EgressRule, String> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if port > 0 => (h, Some(port)),
            _ => return Err(format!("`{s}`: port `{p}` is not a number in 1..=65535")),
        },
        None => (s, None),
    };
    let host = host.to_ascii_lowercase();
    let bare = host.strip_prefix("*.").unwrap_or(&host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if bare.is_empty() || bare.len() > 253 || !bare.split('.').all(label_ok) {
        return Err(format!(
            "`{s}` is not `host[:port]` (a DNS name, optionally starting with `*.`)"
        ));
    }
    Ok(EgressRule { host, port })
}

#[cfg(test)]
mod tests;
