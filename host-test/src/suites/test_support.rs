//! What the suite tests share: an action context to run suite calls in, and instance parameters.

use std::sync::Arc;

use crate::diag::{self, ActionCtx, Diagnostics};
use crate::objects::Param;
use crate::params::{define_defaults, ParamKind};

/// The context of action `action` on frame 3, reporting to `diag`.
pub(super) fn ctx(diag: &Arc<Diagnostics>, action: &str) -> ActionCtx {
    ActionCtx {
        diag: diag.clone(),
        plugin: Arc::from("test"),
        action: Arc::from(action),
        frame: Some(3),
        action_id: diag::next_action_id(),
    }
}

/// An instance parameter of `kind` with its spec defaults.
pub(super) fn instance_param(kind: ParamKind, name: &str) -> Arc<Param> {
    let p = Param::new(name.to_owned(), kind, false);
    define_defaults(&p.props, kind, name);
    p
}
