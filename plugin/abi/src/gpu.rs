//! Mirrors `ofxGPURender.h` (OFX 1.4/1.5): OpenGL, CUDA, Metal and OpenCL render properties, the GPU status
//! codes, the GL context actions, and the OpenGL render and OpenCL program suites.

use crate::image_effect::OfxImageClipHandle;
use crate::ofx_core::{OfxPropertySetHandle, OfxRectD, OfxStatus, OfxTime};
use std::ffi::{c_char, c_int, c_void, CStr};

// OpenGL
pub const kOfxOpenGLRenderSuite: &CStr = c"OfxImageEffectOpenGLRenderSuite";
pub const kOfxImageEffectPropOpenGLRenderSupported: &CStr = c"OfxImageEffectPropOpenGLRenderSupported";
pub const kOfxOpenGLPropPixelDepth: &CStr = c"OfxOpenGLPropPixelDepth";
pub const kOfxImageEffectPropOpenGLEnabled: &CStr = c"OfxImageEffectPropOpenGLEnabled";
pub const kOfxImageEffectPropOpenGLTextureIndex: &CStr = c"OfxImageEffectPropOpenGLTextureIndex";
pub const kOfxImageEffectPropOpenGLTextureTarget: &CStr = c"OfxImageEffectPropOpenGLTextureTarget";
/// Added in OFX 1.5.1.
pub const kOfxImageEffectPropCPURenderSupported: &CStr = c"OfxImageEffectPropCPURenderSupported";

// GPU status codes
pub const kOfxStatGPUOutOfMemory: OfxStatus = 1001;
pub const kOfxStatGLOutOfMemory: OfxStatus = 1001;
pub const kOfxStatGPURenderFailed: OfxStatus = 1002;
pub const kOfxStatGLRenderFailed: OfxStatus = 1002;

pub const kOfxActionOpenGLContextAttached: &CStr = c"OfxActionOpenGLContextAttached";
/// The header's value really does start with a `k`.
pub const kOfxActionOpenGLContextDetached: &CStr = c"kOfxActionOpenGLContextDetached";

/// Image to texture conversion for OpenGL processing (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxImageEffectOpenGLRenderSuiteV1 {
    pub clipLoadTexture: Option<
        unsafe extern "C" fn(
            clip: OfxImageClipHandle,
            time: OfxTime,
            format: *const c_char,
            region: *const OfxRectD,
            textureHandle: *mut OfxPropertySetHandle,
        ) -> OfxStatus,
    >,
    pub clipFreeTexture: Option<unsafe extern "C" fn(textureHandle: OfxPropertySetHandle) -> OfxStatus>,
    pub flushResources: Option<unsafe extern "C" fn() -> OfxStatus>,
}

// CUDA (OFX 1.5)
pub const kOfxImageEffectPropCudaRenderSupported: &CStr = c"OfxImageEffectPropCudaRenderSupported";
pub const kOfxImageEffectPropCudaEnabled: &CStr = c"OfxImageEffectPropCudaEnabled";
pub const kOfxImageEffectPropCudaStreamSupported: &CStr = c"OfxImageEffectPropCudaStreamSupported";
pub const kOfxImageEffectPropCudaStream: &CStr = c"OfxImageEffectPropCudaStream";

// Metal (OFX 1.5)
pub const kOfxImageEffectPropMetalRenderSupported: &CStr = c"OfxImageEffectPropMetalRenderSupported";
pub const kOfxImageEffectPropMetalEnabled: &CStr = c"OfxImageEffectPropMetalEnabled";
pub const kOfxImageEffectPropMetalCommandQueue: &CStr = c"OfxImageEffectPropMetalCommandQueue";

// OpenCL (OFX 1.5)
pub const kOfxImageEffectPropOpenCLRenderSupported: &CStr = c"OfxImageEffectPropOpenCLRenderSupported";
pub const kOfxImageEffectPropOpenCLSupported: &CStr = c"OfxImageEffectPropOpenCLSupported";
pub const kOfxImageEffectPropOpenCLEnabled: &CStr = c"OfxImageEffectPropOpenCLEnabled";
pub const kOfxImageEffectPropOpenCLCommandQueue: &CStr = c"OfxImageEffectPropOpenCLCommandQueue";
pub const kOfxImageEffectPropOpenCLImage: &CStr = c"OfxImageEffectPropOpenCLImage";
pub const kOfxOpenCLProgramSuite: &CStr = c"OfxOpenCLProgramSuite";

/// Lets a plug-in have the host compile OpenCL programs (version 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OfxOpenCLProgramSuiteV1 {
    pub compileProgram: Option<
        unsafe extern "C" fn(pszProgramSource: *const c_char, fOptional: c_int, pResult: *mut c_void) -> OfxStatus,
    >,
}
