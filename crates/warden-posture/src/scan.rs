//! Scan driver: walks paths, detects each file's kind, runs the front end and the rules in
//! parallel, applies suppressions and merges everything into one [`ScanReport`].

use crate::checks;
use crate::error::ParseError;
use crate::finding::{FileError, ScanReport};
use crate::iam::PolicyKind;
use crate::model::{Deployment, PolicyDoc};
use crate::node::{parse_json, Node};
use crate::report_ctx::Ctx;
use crate::suppress::{self, ignores_from};
use crate::{cfn, tf, wardencfg, yaml};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Options for [`scan_paths`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Account ids considered "ours" in trust policies (other accounts are cross-account).
    pub own_accounts: Vec<String>,
    /// Files larger than this are reported as errors instead of being read.
    pub max_file_bytes: u64,
    /// Show a progress bar on stderr (only when stderr is a terminal and the tree is large).
    pub progress: bool,
    /// Worker threads (0 = available parallelism).
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            own_accounts: Vec::new(),
            max_file_bytes: 16 * 1024 * 1024,
            progress: false,
            threads: 0,
        }
    }
}

/// What scanning one file produced.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Findings (suppressions applied).
    pub findings: Vec<crate::finding::Finding>,
    /// Errors.
    pub errors: Vec<FileError>,
    /// The file was recognised as a supported input.
    pub recognised: bool,
}

const EXTENSIONS: &[&str] = &["json", "yaml", "yml", "template", "tf", "toml"];
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".terraform",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "cdk.out",
];

fn display(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map_or(s.clone(), str::to_string)
}

/// Lists the files under `paths` (explicit files are always included).
fn collect(paths: &[PathBuf], errors: &mut Vec<FileError>) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_file() {
            out.push((p.clone(), true));
            continue;
        }
        if !p.exists() {
            errors.push(FileError {
                file: display(p),
                line: None,
                message: "path does not exist".into(),
            });
            continue;
        }
        let walker = walkdir::WalkDir::new(p)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir()
                        && (SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref())
                            || e.file_name().to_string_lossy().starts_with('.')))
            });
        for e in walker {
            match e {
                Ok(e) if e.file_type().is_file() => {
                    let ext = e
                        .path()
                        .extension()
                        .map(|x| x.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    if EXTENSIONS.contains(&ext.as_str()) {
                        out.push((e.into_path(), false));
                    }
                }
                Ok(_) => {}
                Err(err) => errors.push(FileError {
                    file: err.path().map_or_else(|| display(p), display),
                    line: None,
                    message: format!("cannot walk directory: {err}"),
                }),
            }
        }
    }
    out
}

/// Scans files and directories (recursively).
pub fn scan_paths(paths: &[PathBuf], opts: &ScanOptions) -> ScanReport {
    let mut report = ScanReport::default();
    let files = collect(paths, &mut report.errors);
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.threads
    }
    .clamp(1, 64)
    .min(files.len().max(1));
    let bar = (opts.progress && files.len() >= 200 && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(files.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} scanning [{bar:40}] {pos}/{len} files {elapsed}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb
    });
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileOutcome)>> = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, explicit)) = files.get(i) else {
                        break;
                    };
                    local.push((i, scan_file(path, *explicit, opts)));
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    for (_, o) in results {
        if o.recognised {
            report.files_scanned += 1;
        } else {
            report.files_skipped += 1;
        }
        report.findings.extend(o.findings);
        report.errors.extend(o.errors);
    }
    report.findings.sort_by(|a, b| {
        (&a.file, a.line, &a.rule, &a.resource).cmp(&(&b.file, b.line, &b.rule, &b.resource))
    });
    report
}

/// Scans one file from disk.
pub fn scan_file(path: &Path, explicit: bool, opts: &ScanOptions) -> FileOutcome {
    let name = display(path);
    let fail = |msg: String| FileOutcome {
        errors: vec![FileError {
            file: name.clone(),
            line: None,
            message: msg,
        }],
        recognised: true,
        ..FileOutcome::default()
    };
    match std::fs::metadata(path) {
        Ok(m) if m.len() > opts.max_file_bytes => {
            return fail(
                ParseError::TooLarge {
                    size: m.len(),
                    limit: opts.max_file_bytes,
                }
                .to_string(),
            )
        }
        Ok(_) => {}
        Err(e) => return fail(format!("cannot read file: {e}")),
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read file: {e}")),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return fail(ParseError::NotUtf8.to_string());
    };
    scan_text(&name, path, &text, explicit, opts)
}

/// Scans in-memory text as if it were the file `name` (its extension picks the parser).
pub fn scan_source(name: &str, text: &str, opts: &ScanOptions) -> FileOutcome {
    scan_text(name, Path::new(name), text, true, opts)
}

/// Cheap sniff used for files found by walking: a file that fails to parse is only reported when
/// it looks like something we scan (so Helm templates or broken unrelated YAML stay quiet).
fn looks_relevant(text: &str) -> bool {
    [
        "AWSTemplateFormatVersion",
        "Resources",
        "Statement",
        "openapi",
        "format_version",
        "agentName",
        "[tools",
        "[agents",
    ]
    .iter()
    .any(|k| text.contains(k))
}

/// Maximum bracket nesting of `text` (guards third-party recursive parsers).
fn bracket_depth(text: &str) -> usize {
    let (mut d, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'{' | b'[' | b'(' => {
                d += 1;
                max = max.max(d);
            }
            b'}' | b']' | b')' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn scan_text(
    name: &str,
    path: &Path,
    text: &str,
    explicit: bool,
    opts: &ScanOptions,
) -> FileOutcome {
    let mut ctx = Ctx::new(name, &opts.own_accounts);
    let ext = path
        .extension()
        .map(|x| x.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let file_name = path
        .file_name()
        .map(|x| x.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut comments = false;
    let deep = (ext == "tf" || ext == "toml") && bracket_depth(text) > crate::node::MAX_DEPTH;
    let parsed: Result<Option<Deployment>, ParseError> = match ext.as_str() {
        _ if deep => Err(ParseError::TooDeep {
            limit: crate::node::MAX_DEPTH,
            line: 1,
        }),
        "tf" => {
            comments = true;
            tf::load_hcl(text, &mut ctx).map(Some)
        }
        "toml" => match wardencfg::parse(text) {
            Ok(t) if wardencfg::is_warden(&t, &file_name) => {
                comments = true;
                wardencfg::check(text, &t, path, &mut ctx);
                Ok(Some(Deployment::default()))
            }
            Ok(_) => Ok(None),
            Err(e) if file_name == "warden.toml" || explicit => Err(e),
            Err(_) => Ok(None),
        },
        "yaml" | "yml" | "template" => {
            comments = true;
            yaml::parse_yaml(text).map(|root| detect(&root, &mut ctx))
        }
        "json" => parse_json(text).map(|root| detect(&root, &mut ctx)),
        _ => {
            let t = text.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                parse_json(text).map(|root| detect(&root, &mut ctx))
            } else {
                comments = true;
                yaml::parse_yaml(text).map(|root| detect(&root, &mut ctx))
            }
        }
    };
    let dep = match parsed {
        Err(_)
            if !explicit
                && !matches!(ext.as_str(), "tf")
                && file_name != "warden.toml"
                && !looks_relevant(text) =>
        {
            return FileOutcome::default();
        }
        Err(e) => {
            let line = e.line();
            ctx.error(line, e.to_string());
            return FileOutcome {
                findings: Vec::new(),
                errors: ctx.errors,
                recognised: true,
            };
        }
        Ok(None) => {
            if explicit {
                ctx.error(None, "not a recognised input (IAM policy, CloudFormation, Terraform, Bedrock agent, OpenAPI schema or warden.toml)".into());
                return FileOutcome {
                    findings: Vec::new(),
                    errors: ctx.errors,
                    recognised: false,
                };
            }
            return FileOutcome::default();
        }
        Ok(Some(d)) => d,
    };
    checks::check(&dep, &mut ctx);
    if comments {
        suppress::add_comment_suppressions(&mut ctx, yaml::comment_suppressions(text));
    }
    suppress::apply(&mut ctx);
    FileOutcome {
        findings: ctx.findings,
        errors: ctx.errors,
        recognised: true,
    }
}

fn raw_policy_kind(root: &Node) -> PolicyKind {
    let stmts = root.get("Statement").map(Node::as_list).unwrap_or_default();
    let with_principal = stmts
        .iter()
        .any(|s| s.get("Principal").is_some() || s.get("NotPrincipal").is_some());
    if !with_principal {
        return PolicyKind::Identity;
    }
    let assume = stmts.iter().all(|s| {
        s.get("Action").is_some_and(|a| {
            let l = a.str_list();
            !l.is_empty()
                && l.iter().all(|x| {
                    x.to_ascii_lowercase().starts_with("sts:assumerole")
                        || x.eq_ignore_ascii_case("sts:TagSession")
                        || x.eq_ignore_ascii_case("sts:SetSourceIdentity")
                })
        })
    });
    if assume {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    }
}

/// Recognises the document shape and converts it into a deployment.
fn detect(root: &Node, ctx: &mut Ctx) -> Option<Deployment> {
    if tf::is_plan(root) {
        return Some(tf::load_plan(root, ctx));
    }
    if cfn::is_template(root) {
        return Some(cfn::load(root, ctx));
    }
    if tf::is_bedrock_api(root) {
        return Some(tf::load_bedrock(root));
    }
    let mut dep = Deployment::default();
    let single =
        |dep: &mut Deployment, doc: &Node, kind: PolicyKind, resource: &str, path: &str| {
            dep.policies.push(PolicyDoc {
                resource: resource.into(),
                path: path.into(),
                kind,
                doc: doc.clone(),
                roles: vec![resource.into()],
            });
        };
    if root.get("Statement").is_some() {
        single(&mut dep, root, raw_policy_kind(root), "policy", "");
        return Some(dep);
    }
    if let Some(doc) = root
        .path(&["PolicyVersion", "Document"])
        .filter(|d| d.is_map())
    {
        single(
            &mut dep,
            doc,
            PolicyKind::Identity,
            "policy",
            "PolicyVersion.Document",
        );
        return Some(dep);
    }
    if let Some(role) = root
        .get("Role")
        .filter(|r| r.get("AssumeRolePolicyDocument").is_some())
    {
        let name = role
            .get("RoleName")
            .and_then(Node::as_str)
            .unwrap_or("role")
            .to_string();
        if let Some(doc) = role.get("AssumeRolePolicyDocument").filter(|d| d.is_map()) {
            single(
                &mut dep,
                doc,
                PolicyKind::Trust,
                &name,
                "Role.AssumeRolePolicyDocument",
            );
        }
        return Some(dep);
    }
    if root.get("openapi").is_some() && root.get("paths").is_some() {
        for (rule, reason, line) in ignores_from(root.get("x-warden-ignore")) {
            ctx.suppressions.push(crate::suppress::Suppression {
                rule,
                reason,
                line,
                scope: crate::suppress::Scope::File,
            });
        }
        dep.schemas.push(("schema".into(), root.clone()));
        return Some(dep);
    }
    None
}
