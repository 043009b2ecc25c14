//! The message suite (V1 and V2): messages and persistent messages, recorded per instance and action.
//! The varargs calls are formatted by the C shim and arrive at [`kinema_host_message`].

use std::ffi::{c_char, c_int, c_void, CStr};

use ofx_abi::*;

use super::{bad_arg, cstr, guard, lookup_effect};
use crate::diag::{self, Message, ViolationKind};

// The varargs entry points, in shim.c: they format the text and call `kinema_host_message`.
extern "C" {
    fn kinema_shim_message(h: *mut c_void, ty: *const c_char, id: *const c_char, fmt: *const c_char, ...) -> OfxStatus;
    fn kinema_shim_set_persistent_message(
        h: *mut c_void,
        ty: *const c_char,
        id: *const c_char,
        fmt: *const c_char,
        ...
    ) -> OfxStatus;
}

/// The message types the spec defines.
const MESSAGE_TYPES: [&CStr; 6] =
    [kOfxMessageFatal, kOfxMessageError, kOfxMessageWarning, kOfxMessageMessage, kOfxMessageLog, kOfxMessageQuestion];

/// For the shim: stores a formatted message (persistent != 0 for setPersistentMessage).
///
/// # Safety
/// `ty`, `id` and `text` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn kinema_host_message(
    h: *mut c_void,
    ty: *const c_char,
    id: *const c_char,
    text: *const c_char,
    persistent: c_int,
) -> OfxStatus {
    // SAFETY: `ty`, `id` and `text` are NULL or NUL-terminated (the caller's contract).
    guard(|| unsafe {
        let func = if persistent != 0 { "setPersistentMessage" } else { "message" };
        let effect = if h.is_null() {
            None
        } else {
            match lookup_effect(func, h) {
                Ok(e) => Some(e),
                Err(s) => return s,
            }
        };
        let Some(ty) = cstr(ty) else {
            return bad_arg(func, "NULL message type");
        };
        if !MESSAGE_TYPES.iter().any(|t| t.to_bytes() == ty.as_bytes()) {
            diag::report(ViolationKind::BadArgument, format!("{func}: unknown message type '{ty}'"));
            return kOfxStatErrValue;
        }
        let persistent_ok = [kOfxMessageError, kOfxMessageWarning, kOfxMessageMessage];
        if persistent != 0 && !persistent_ok.iter().any(|t| t.to_bytes() == ty.as_bytes()) {
            diag::report(ViolationKind::BadArgument, format!("{func}: type '{ty}' cannot be persistent"));
            return kOfxStatErrValue;
        }
        let ctx = diag::current();
        let msg = Message {
            message_type: ty.to_owned(),
            id: cstr(id).map(str::to_owned),
            text: cstr(text).unwrap_or("").to_owned(),
            persistent: persistent != 0,
            instance: effect.as_ref().filter(|e| e.is_instance).map(|e| e.id),
            action: ctx.as_ref().map(|c| diag::short_action(&c.action).to_owned()).unwrap_or_default(),
            frame: ctx.as_ref().and_then(|c| c.frame),
            action_id: ctx.as_ref().map(|c| c.action_id).unwrap_or(0),
        };
        let diag = effect.as_ref().map(|e| e.diag.clone()).or_else(|| ctx.as_ref().map(|c| c.diag.clone()));
        if let Some(d) = diag {
            d.messages.lock().push(msg);
        }
        if ty.as_bytes() == kOfxMessageQuestion.to_bytes() {
            kOfxStatReplyYes
        } else {
            kOfxStatOK
        }
    })
}

/// `clearPersistentMessage`.
///
/// # Safety
/// None beyond the C ABI: the handle is looked up in the registry, never dereferenced.
unsafe extern "C" fn clear_persistent_message(h: *mut c_void) -> OfxStatus {
    guard(|| {
        let e = match lookup_effect("clearPersistentMessage", h) {
            Ok(e) => e,
            Err(s) => return s,
        };
        for m in e.diag.messages.lock().iter_mut() {
            if m.persistent && m.instance == Some(e.id) {
                m.persistent = false;
            }
        }
        kOfxStatOK
    })
}

pub(super) static MESSAGE_SUITE_V1: OfxMessageSuiteV1 = OfxMessageSuiteV1 { message: Some(kinema_shim_message) };
pub(super) static MESSAGE_SUITE_V2: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    message: Some(kinema_shim_message),
    setPersistentMessage: Some(kinema_shim_set_persistent_message),
    clearPersistentMessage: Some(clear_persistent_message),
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diag::Diagnostics;
    use crate::objects::Effect;
    use crate::suites::test_support::ctx;

    #[test]
    fn messages_are_formatted_and_stored() {
        let msg = MESSAGE_SUITE_V2.message.unwrap();
        let persist = MESSAGE_SUITE_V2.setPersistentMessage.unwrap();
        let clear = MESSAGE_SUITE_V2.clearPersistentMessage.unwrap();
        let diag = Arc::new(Diagnostics::default());
        let desc = Effect::new_descriptor(Arc::from("test"), diag.clone());
        let e = Effect::new_instance(&desc);
        let h = e.handle() as *mut c_void;
        // SAFETY: the varargs match each format string, and every string is a NUL-terminated literal.
        unsafe {
            assert_eq!(
                msg(
                    h,
                    kOfxMessageError.as_ptr(),
                    c"id1".as_ptr(),
                    c"frame %d: %s %.2f".as_ptr(),
                    7 as c_int,
                    c"bad".as_ptr(),
                    0.5f64
                ),
                kOfxStatOK
            );
            assert_eq!(msg(h, kOfxMessageQuestion.as_ptr(), std::ptr::null(), c"sure?".as_ptr()), kOfxStatReplyYes);
            assert_eq!(
                persist(h, kOfxMessageWarning.as_ptr(), std::ptr::null(), c"%s".as_ptr(), c"careful".as_ptr()),
                kOfxStatOK
            );
            assert_eq!(clear(h), kOfxStatOK);
            let st = diag::with_ctx(ctx(&diag, "x"), || msg(h, c"Nonsense".as_ptr(), std::ptr::null(), c"x".as_ptr()));
            assert_eq!(st, kOfxStatErrValue);
        }
        let m = diag.messages.lock().clone();
        assert_eq!(m[0].text, "frame 7: bad 0.50");
        assert_eq!(m[0].id.as_deref(), Some("id1"));
        assert_eq!(m[2].text, "careful");
        assert_eq!(m[0].instance, Some(e.id));
        assert!(!m[2].persistent, "cleared");
        assert_eq!(diag.violations.lock()[0].kind, ViolationKind::BadArgument);
    }
}
