//! Warden's shared vocabulary: identifiers, the authenticated principal, kill-switch scopes,
//! verdicts, egress events and the `Sensitive<T>` wrapper. No IO, no async, no clocks.

pub mod egress;
pub mod ids;
pub mod killswitch;
pub mod principal;
pub mod sensitive;
pub mod verdict;

pub use ids::{AgentId, IdError, RequestId, SessionId, TenantId};
pub use killswitch::{KillScope, KillScopeError};
pub use principal::{AuthMethod, Principal};
pub use sensitive::Sensitive;
pub use verdict::{Decision, JudgeOpinion, Reason, Verdict, VerdictMode};
