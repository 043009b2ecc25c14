//! A self-check of the bundle's ONNX Runtime for `kinema doctor` and the end-to-end tests: which
//! library loaded, which provider runs a model, and its output. [`crate::report`] adds the
//! caches above the runtime and exports it.

use std::path::Path;
use std::time::Instant;

use ort::value::{Tensor, TensorElementType};
use serde_json::{json, Value};

use super::{environment, ort_library_path, plugin_dir, session, ProviderPreference};

/// Runs the whole runtime path and describes it as JSON. With a model, feeds it a ramp
/// (0, 0.01, 0.02 …) shaped like its first input (dynamic dimensions: 1×3×4×4) and returns
/// input and output values.
pub fn runtime_report(model: Option<&Path>) -> Value {
    let mut report = json!({
        "plugin_dir": plugin_dir().map(|p| p.display().to_string()),
        "ort_library": ort_library_path().map(|p| p.display().to_string()).map_err(|e| e.to_string()).unwrap_or_else(|e| e),
        "preference": format!("{:?}", ProviderPreference::from_env()),
        "ort_telemetry": if super::telemetry_opted_in() {
            format!("on ({}=1)", super::TELEMETRY_OPT_IN_ENV)
        } else {
            "off".to_string()
        },
        "cached_sessions": super::cached_session_count(),
        "sessions_created": super::sessions_created(),
    });
    match environment() {
        Ok(_) => {
            report["environment"] = json!("ok");
            report["ort_build"] = json!(ort::info());
        }
        Err(e) => {
            report["environment"] = json!(format!("error: {e}"));
            return report;
        }
    }
    if let Some(model) = model {
        report["model"] = match run_model(model) {
            Ok(value) => value,
            Err(e) => json!({ "path": model.display().to_string(), "error": e }),
        };
    }
    report
}

fn run_model(model: &Path) -> Result<Value, String> {
    let started = Instant::now();
    let shared = session(model, ProviderPreference::from_env()).map_err(|e| e.to_string())?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let skipped: Vec<Value> =
        shared.skipped().iter().map(|(p, why)| json!({ "provider": p.name(), "reason": why })).collect();
    let started = Instant::now();
    let (input_name, output_name, shape, input, output) = shared
        .with(|session| {
            let input = session.inputs().first().ok_or_else(|| ort::Error::new("the model has no inputs"))?;
            let output = session.outputs().first().ok_or_else(|| ort::Error::new("the model has no outputs"))?;
            if input.dtype().tensor_type() != Some(TensorElementType::Float32) {
                return Err(ort::Error::new(format!("input '{}' is not a float32 tensor", input.name())));
            }
            let dims = input.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
            let defaults = [1i64, 3, 4, 4];
            let shape: Vec<usize> = dims
                .iter()
                .enumerate()
                .map(|(i, &d)| if d > 0 { d as usize } else { defaults.get(i).copied().unwrap_or(1) as usize })
                .collect();
            let count: usize = shape.iter().product();
            let ramp: Vec<f32> = (0..count).map(|i| i as f32 * 0.01).collect();
            let (input_name, output_name) = (input.name().to_string(), output.name().to_string());
            let tensor = Tensor::from_array((shape.clone(), ramp.clone()))?;
            let outputs = session.run(ort::inputs![input_name.as_str() => tensor])?;
            let (_, values) = outputs[output_name.as_str()].try_extract_tensor::<f32>()?;
            Ok((input_name, output_name, shape, ramp, values.to_vec()))
        })
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "path": shared.model().display().to_string(),
        "provider": shared.provider().name(),
        "skipped": skipped,
        "load_ms": load_ms,
        "run_ms": started.elapsed().as_secs_f64() * 1e3,
        "input_name": input_name,
        "output_name": output_name,
        "shape": shape,
        "input": input,
        "output": output,
    }))
}
