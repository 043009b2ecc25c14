//! Strictness violations, plugin messages, and the per-thread "which action is running" context that lets
//! suite functions attribute what they see.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// What rule a plugin broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// Pixels outside the render window (or row padding) of the output image changed.
    WroteOutsideRenderWindow,
    /// Guard bytes before or after an image allocation changed.
    BufferOverrun,
    /// A source image's pixels were modified.
    WroteSourceImage,
    /// An action returned a value that is not an OFX status.
    InvalidStatus,
    /// An action returned a valid status that the spec does not allow for it (e.g. ReplyDefault from Render).
    StatusNotAllowed,
    /// An image fetched with clipGetImage was not released by the end of the action.
    ImageLeak,
    /// Memory-suite or image-memory allocations outlived their instance (or the bundle).
    MemoryLeak,
    /// A suite was called with an unknown, stale or wrongly typed handle.
    BadHandle,
    /// A suite was called with an invalid argument (NULL out-pointer, unknown name, bad message type...).
    BadArgument,
    /// The plugin wrote a property that is read-only for plugins.
    ReadOnlyProperty,
    /// Render was called outside Begin/EndSequenceRender (host-side sequencing check).
    RenderOutsideSequence,
    /// A parameter was set during a render action (Render, Begin/EndSequenceRender, GetRegionOfDefinition,
    /// ...): the spec allows paramSetValue only in InstanceChanged and interacts.
    ParamSetDuringRender,
    /// The plugin kept changing parameters in answer to its own changes (InstanceChanged never settled).
    InstanceChangedLoop,
    /// clipGetImage was called where the spec does not allow it, or at another time without temporal access.
    IllegalImageFetch,
    /// GetClipPreferences asked for something the host or the plugin's own description does not allow.
    BadClipPreferences,
}

/// One broken rule, with where it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The action running when it was detected ("" when none, e.g. on a plugin-created thread).
    pub action: String,
    pub frame: Option<i64>,
    pub plugin: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:?}]", self.kind)?;
        if !self.plugin.is_empty() {
            write!(f, " {}", self.plugin)?;
        }
        if !self.action.is_empty() {
            write!(f, " in {}", self.action)?;
        }
        if let Some(fr) = self.frame {
            write!(f, " (frame {fr})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A message the plugin posted through the message suite.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// kOfxMessageError, kOfxMessageWarning, ... as the plugin passed it.
    pub message_type: String,
    pub id: Option<String>,
    pub text: String,
    pub persistent: bool,
    /// The instance it was posted on (None for NULL or descriptor handles).
    pub instance: Option<u64>,
    pub action: String,
    pub frame: Option<i64>,
    pub(crate) action_id: u64,
}

impl Message {
    pub fn is_error(&self) -> bool {
        self.message_type == "OfxMessageError" || self.message_type == "OfxMessageFatal"
    }
}

/// Per-bundle collection of violations and messages.
#[derive(Default, Debug)]
pub struct Diagnostics {
    pub violations: Mutex<Vec<Violation>>,
    pub messages: Mutex<Vec<Message>>,
    /// Strict mode: rule breaks the host can refuse (parameter writes during a render action) fail with an
    /// error status as well as being recorded.
    pub strict: AtomicBool,
}

impl Diagnostics {
    pub fn is_strict(&self) -> bool {
        self.strict.load(Ordering::Relaxed)
    }
}

/// Violations seen with no action running (e.g. on a thread the plugin created itself).
pub fn orphans() -> &'static Mutex<Vec<Violation>> {
    static O: OnceLock<Mutex<Vec<Violation>>> = OnceLock::new();
    O.get_or_init(Default::default)
}

/// What is running on this thread.
#[derive(Clone)]
pub struct ActionCtx {
    pub diag: Arc<Diagnostics>,
    pub plugin: Arc<str>,
    pub action: Arc<str>,
    pub frame: Option<i64>,
    pub action_id: u64,
}

thread_local! {
    static CTX: RefCell<Vec<ActionCtx>> = const { RefCell::new(Vec::new()) };
}

pub fn next_action_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` with `ctx` as this thread's current action.
pub fn with_ctx<R>(ctx: ActionCtx, f: impl FnOnce() -> R) -> R {
    CTX.with(|c| c.borrow_mut().push(ctx));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            CTX.with(|c| c.borrow_mut().pop());
        }
    }
    let _pop = Pop;
    f()
}

pub fn current() -> Option<ActionCtx> {
    CTX.with(|c| c.borrow().last().cloned())
}

/// A readable action name: "OfxImageEffectActionRender" -> "Render".
pub fn short_action(action: &str) -> &str {
    action.strip_prefix("OfxImageEffectAction").or_else(|| action.strip_prefix("OfxAction")).unwrap_or(action)
}

/// Records a violation against the current action (or the orphan list).
pub fn report(kind: ViolationKind, message: impl Into<String>) {
    let message = message.into();
    match current() {
        Some(ctx) => ctx.diag.violations.lock().push(Violation {
            kind,
            action: short_action(&ctx.action).to_owned(),
            frame: ctx.frame,
            plugin: ctx.plugin.to_string(),
            message,
        }),
        None => orphans().lock().push(Violation {
            kind,
            action: String::new(),
            frame: None,
            plugin: String::new(),
            message,
        }),
    }
}
